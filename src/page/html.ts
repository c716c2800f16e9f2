/**
 * The HTML payment page served instead of the JSON 402 body to browsers. Self-contained (no fonts,
 * scripts or images from elsewhere): the QR code is an inline SVG made here. The page waits for the
 * settlement over SSE, asks for the preimage with the challenge's macaroon, retries the request
 * with `Authorization: L402 <macaroon>:<preimage>` and shows the result.
 * @module
 */
import { encode, toSvg } from './qr.ts'

export type PageData = {
  readonly invoice: string
  readonly macaroon: string
  readonly paymentHash: string
  readonly amountMsat: number
  /** Unix seconds. */
  readonly expiresAt: number
  readonly description: string
  readonly route: string
  /** Show the "Pay with dev node" button (dev backend, and this client may use it). */
  readonly devPay: boolean
}

const escapeHtml = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!)

/** JSON safe inside a `<script>` element. */
const scriptJson = (v: unknown): string =>
  JSON.stringify(v).replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029')

function amountText(msat: number): string {
  return msat % 1000 === 0 ? `${(msat / 1000).toLocaleString('en-US')} sat` : `${msat.toLocaleString('en-US')} msat`
}

/** Renders the page. */
export function render(d: PageData): string {
  const qr = toSvg(encode(`LIGHTNING:${d.invoice.toUpperCase()}`), { label: 'QR code of the Lightning invoice' })
  const data = scriptJson({ invoice: d.invoice, macaroon: d.macaroon, paymentHash: d.paymentHash, expiresAt: d.expiresAt, devPay: d.devPay })
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>Payment required · ${escapeHtml(amountText(d.amountMsat))}</title>
<style>${css}</style>
</head>
<body>
<main class="card" id="turnpike-pay">
  <header>
    <p class="kicker" id="kicker">402 · Payment required</p>
    <h1><span id="amount">${escapeHtml(amountText(d.amountMsat))}</span></h1>
    <p class="desc">${escapeHtml(d.description)}</p>
  </header>
  <section class="pay" id="pay">
    <a class="qr" href="lightning:${escapeHtml(d.invoice)}" title="Open in a Lightning wallet">${qr}</a>
    <div class="invoice">
      <code id="invoice" title="${escapeHtml(d.invoice)}">${escapeHtml(d.invoice)}</code>
      <button type="button" id="copy-invoice" data-copy="invoice">Copy invoice</button>
    </div>
    <div class="actions">
      <button type="button" id="pay-webln" class="primary" hidden>Pay with browser wallet</button>
      ${d.devPay ? '<button type="button" id="pay-dev" class="dev">Pay with dev node (no real money)</button>' : ''}
      <a class="wallet" href="lightning:${escapeHtml(d.invoice)}">Open in wallet</a>
    </div>
  </section>
  <p class="status" id="status" role="status" aria-live="polite">Waiting for payment…</p>
  <p class="expiry" id="expiry"></p>
  <section class="result" id="result" hidden>
    <p class="result-head"><span id="result-status"></span> <button type="button" id="copy-credential">Copy credential</button></p>
    <pre id="result-body"></pre>
  </section>
  <details class="manual">
    <summary>Paying from a program</summary>
    <p>Pay the invoice, then repeat this request with the header
    <code>Authorization: L402 &lt;macaroon&gt;:&lt;preimage&gt;</code>.</p>
    <p>Macaroon <button type="button" id="copy-macaroon" data-copy="macaroon">Copy</button></p>
  </details>
  <noscript><p class="status">JavaScript is off: pay the invoice with any Lightning wallet, then repeat the request with the credential above.</p></noscript>
</main>
<script type="application/json" id="turnpike-data">${data}</script>
<script>${script}</script>
</body>
</html>
`
}

const css = `
:root{color-scheme:light dark;--bg:#f4f4f1;--fg:#16161a;--muted:#6b6b76;--card:#fff;--line:#e3e3de;--accent:#f7931a;--ok:#1a8f4a;--bad:#c0392b}
@media (prefers-color-scheme:dark){:root{--bg:#121214;--fg:#ececf1;--muted:#9a9aa6;--card:#1c1c20;--line:#2e2e35}}
*{box-sizing:border-box}body{margin:0;min-height:100vh;display:grid;place-items:center;background:var(--bg);color:var(--fg);font:16px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;padding:24px}
.card{width:100%;max-width:440px;background:var(--card);border:1px solid var(--line);border-radius:16px;padding:28px;box-shadow:0 8px 30px rgba(0,0,0,.08)}
.kicker{margin:0;color:var(--muted);font-size:13px;letter-spacing:.06em;text-transform:uppercase}
h1{margin:4px 0 2px;font-size:34px;letter-spacing:-.02em}.desc{margin:0 0 18px;color:var(--muted)}
.qr{display:block;background:#fff;border-radius:12px;padding:8px;border:1px solid var(--line)}.qr svg{display:block;width:100%;height:auto}
.invoice{display:flex;gap:8px;align-items:center;margin:14px 0}
.invoice code{flex:1;min-width:0;overflow:hidden;text-overflow:ellipsis;white-space:nowrap;font:13px ui-monospace,SFMono-Regular,Menlo,monospace;color:var(--muted)}
button,.wallet{font:inherit;font-size:15px;border-radius:10px;border:1px solid var(--line);background:transparent;color:var(--fg);padding:9px 14px;cursor:pointer;text-decoration:none;text-align:center}
button:hover,.wallet:hover{border-color:var(--muted)}.actions{display:grid;gap:8px}
.primary{background:var(--accent);border-color:var(--accent);color:#111;font-weight:600}.dev{border-style:dashed}
.status{margin:16px 0 0;font-weight:600}.status.ok{color:var(--ok)}.status.bad{color:var(--bad)}.expiry{margin:2px 0 0;color:var(--muted);font-size:13px}
.result{margin-top:14px}.result-head{display:flex;justify-content:space-between;align-items:center;margin:0 0 8px}
pre{margin:0;max-height:320px;overflow:auto;background:var(--bg);border:1px solid var(--line);border-radius:10px;padding:12px;font:13px ui-monospace,SFMono-Regular,Menlo,monospace;white-space:pre-wrap;word-break:break-word}
.manual{margin-top:18px;color:var(--muted);font-size:14px}.manual code{font-size:12px}
.paid .pay{display:none}
`

// Plain ES2017 for any browser; no external resources.
const script = `
(function(){
  'use strict';
  var data = JSON.parse(document.getElementById('turnpike-data').textContent);
  var statusEl = document.getElementById('status');
  var done = false, credential = '', es;
  function status(text, cls){ statusEl.textContent = text; statusEl.className = 'status' + (cls ? ' ' + cls : ''); }
  function copy(text, btn){
    var ok = function(){ var t = btn.textContent; btn.textContent = 'Copied'; setTimeout(function(){ btn.textContent = t; }, 1200); };
    if (navigator.clipboard && window.isSecureContext) { navigator.clipboard.writeText(text).then(ok, function(){ fallback(text); ok(); }); }
    else { fallback(text); ok(); }
  }
  function fallback(text){ var ta = document.createElement('textarea'); ta.value = text; document.body.appendChild(ta); ta.select(); try { document.execCommand('copy'); } catch (e) {} ta.remove(); }
  document.getElementById('copy-invoice').onclick = function(){ copy(data.invoice, this); };
  document.getElementById('copy-macaroon').onclick = function(){ copy(data.macaroon, this); };
  document.getElementById('copy-credential').onclick = function(){ copy(credential, this); };

  function unlock(preimage){
    if (done) return; done = true;
    if (es) es.close();
    credential = 'L402 ' + data.macaroon + ':' + preimage;
    status('Paid. Unlocking…', 'ok');
    document.body.classList.add('paid');
    document.getElementById('kicker').textContent = 'Paid';
    document.getElementById('expiry').textContent = '';
    fetch(location.href, { headers: { Authorization: credential }, cache: 'no-store', credentials: 'same-origin' }).then(function(res){
      var type = res.headers.get('content-type') || '';
      if (res.ok && /text\\/html/i.test(type)) {
        return res.text().then(function(html){ document.open(); document.write(html); document.close(); });
      }
      return res.text().then(function(body){
        if (/json/i.test(type)) { try { body = JSON.stringify(JSON.parse(body), null, 2); } catch (e) {} }
        document.getElementById('result').hidden = false;
        document.getElementById('result-status').textContent = res.status + ' ' + (res.statusText || '');
        document.getElementById('result-body').textContent = body;
        status(res.ok ? 'Paid. Unlocked.' : 'Paid, but the request failed (' + res.status + '). Retry with the credential.', res.ok ? 'ok' : 'bad');
      });
    }).catch(function(){ status('Paid, but the request could not be sent. Copy the credential and retry.', 'bad'); document.getElementById('result').hidden = false; });
  }

  function fetchPreimage(tries){
    fetch('/.turnpike/invoices/' + data.paymentHash + '/preimage', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ macaroon: data.macaroon }) })
      .then(function(r){ return r.json(); })
      .then(function(j){ if (j.preimage) unlock(j.preimage); else if (tries > 0) setTimeout(function(){ fetchPreimage(tries - 1); }, 1000); })
      .catch(function(){ if (tries > 0) setTimeout(function(){ fetchPreimage(tries - 1); }, 1000); });
  }

  if (window.EventSource) {
    es = new EventSource('/.turnpike/invoices/' + data.paymentHash + '/events');
    es.addEventListener('settled', function(){ es.close(); status('Payment received.', 'ok'); fetchPreimage(5); });
    es.addEventListener('expired', function(){ es.close(); if (!done) status('This invoice expired. Reload the page for a new one.', 'bad'); });
  }

  var webln = document.getElementById('pay-webln');
  function offerWebln(){ if (window.webln) webln.hidden = false; }
  offerWebln(); setTimeout(offerWebln, 500);
  webln.onclick = function(){
    status('Waiting for your wallet…');
    Promise.resolve(window.webln.enable()).then(function(){ return window.webln.sendPayment(data.invoice); })
      .then(function(r){ if (r && r.preimage) unlock(r.preimage); })
      .catch(function(e){ status('The wallet did not pay: ' + ((e && e.message) || e), 'bad'); });
  };

  var dev = document.getElementById('pay-dev');
  if (dev) dev.onclick = function(){
    dev.disabled = true; status('Paying with the dev node…');
    fetch('/.turnpike/dev/pay', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ invoice: data.invoice }) })
      .then(function(r){ return r.json(); })
      .then(function(j){ if (j.preimage) unlock(j.preimage); else { dev.disabled = false; status('Dev payment failed: ' + (j.detail || 'unknown error'), 'bad'); } })
      .catch(function(){ dev.disabled = false; status('Dev payment failed.', 'bad'); });
  };

  var expiry = document.getElementById('expiry');
  (function tick(){
    if (done) { expiry.textContent = ''; return; }
    var left = Math.round(data.expiresAt - Date.now() / 1000);
    if (left <= 0) { expiry.textContent = 'Expired.'; return; }
    var m = Math.floor(left / 60), s = left % 60;
    expiry.textContent = 'Expires in ' + (m >= 60 ? Math.floor(m / 60) + 'h ' + (m % 60) + 'm' : m + ':' + (s < 10 ? '0' : '') + s);
    setTimeout(tick, 1000);
  })();
})();
`
