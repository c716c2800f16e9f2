/**
 * The admin dashboard: one static page on the admin listener. It holds no data itself; the
 * operator pastes the admin token (kept in sessionStorage for the tab) and the page reads the
 * admin API. All values are set with `textContent`, never parsed as HTML.
 * @module
 */

export function dashboardHtml(): string {
  return page
}

const page = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>turnpike admin</title>
<style>
:root{color-scheme:light dark;--bg:#f4f4f1;--fg:#16161a;--muted:#6b6b76;--card:#fff;--line:#e3e3de;--accent:#f7931a;--ok:#1a8f4a;--bad:#c0392b}
@media (prefers-color-scheme:dark){:root{--bg:#121214;--fg:#ececf1;--muted:#9a9aa6;--card:#1c1c20;--line:#2e2e35}}
*{box-sizing:border-box}body{margin:0;background:var(--bg);color:var(--fg);font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
header{display:flex;align-items:center;justify-content:space-between;padding:14px 24px;border-bottom:1px solid var(--line);background:var(--card)}
header h1{margin:0;font-size:17px}header h1 span{color:var(--accent)}#meta{color:var(--muted)}
main{max-width:1100px;margin:0 auto;padding:20px 24px;display:grid;gap:16px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(170px,1fr));gap:12px}
.card{background:var(--card);border:1px solid var(--line);border-radius:12px;padding:14px 16px}
.card .k{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.05em}.card .v{font-size:24px;font-weight:650;margin-top:2px}
section{background:var(--card);border:1px solid var(--line);border-radius:12px;padding:14px 16px;overflow:auto}
section h2{margin:0 0 10px;font-size:14px}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:6px 8px;border-bottom:1px solid var(--line);white-space:nowrap}
th{color:var(--muted);font-weight:600;font-size:12px}td.mono{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12px}
.pill{display:inline-block;padding:1px 8px;border-radius:99px;font-size:12px;border:1px solid var(--line)}
.settled{color:var(--ok);border-color:var(--ok)}.expired,.canceled{color:var(--muted)}.open{color:var(--accent);border-color:var(--accent)}
form{display:flex;gap:8px}input{font:inherit;padding:7px 10px;border-radius:8px;border:1px solid var(--line);background:var(--bg);color:var(--fg);min-width:280px}
button{font:inherit;padding:7px 12px;border-radius:8px;border:1px solid var(--line);background:transparent;color:var(--fg);cursor:pointer}
#error{color:var(--bad);margin:0}#error:empty{display:none}#app{display:grid;gap:16px}[hidden]{display:none!important}
</style>
</head>
<body>
<header><h1><span>⚡</span> turnpike admin</h1><div id="meta"></div></header>
<main>
  <form id="login"><input id="token" type="password" autocomplete="off" placeholder="Admin token (admin-token in the data directory)" aria-label="Admin token"><button type="submit">Open</button></form>
  <p id="error" role="alert"></p>
  <div id="app" hidden>
    <div class="cards">
      <div class="card"><div class="k">Requests</div><div class="v" id="c-requests">–</div></div>
      <div class="card"><div class="k">Challenges</div><div class="v" id="c-challenges">–</div></div>
      <div class="card"><div class="k">Paid requests</div><div class="v" id="c-verified">–</div></div>
      <div class="card"><div class="k">Refused credentials</div><div class="v" id="c-failures">–</div></div>
      <div class="card"><div class="k">Revenue (settled)</div><div class="v" id="c-revenue">–</div></div>
    </div>
    <section><h2>Routes</h2><table id="routes"><thead><tr><th>Name</th><th>Match</th><th>Price</th><th>Access</th><th>Requests</th><th>Paid</th><th>Notes</th></tr></thead><tbody></tbody></table></section>
    <section><h2>Latest transactions</h2><table id="tx"><thead><tr><th>Created</th><th>Route</th><th>Amount</th><th>Status</th><th>Payment hash</th></tr></thead><tbody></tbody></table></section>
  </div>
</main>
<script>
(function(){
  'use strict';
  var token = sessionStorage.getItem('turnpike-admin-token') || '';
  var timer;
  function $(id){ return document.getElementById(id); }
  function sat(msat){ var n = Number(msat); return n % 1000 === 0 ? (n / 1000).toLocaleString() + ' sat' : n.toLocaleString() + ' msat'; }
  function api(path){
    return fetch(path, { headers: { Authorization: 'Bearer ' + token }, cache: 'no-store' }).then(function(r){
      if (r.status === 401) throw new Error('The token was refused.');
      return r.json().then(function(j){ if (!r.ok) throw new Error(j.detail || r.statusText); return j; });
    });
  }
  function cell(tr, text, cls){ var td = document.createElement('td'); td.textContent = text; if (cls) td.className = cls; tr.appendChild(td); return td; }
  function fill(id, rows){ var tb = $(id).tBodies[0]; tb.textContent = ''; rows.forEach(function(r){ tb.appendChild(r); }); }
  function sum(o){ var t = 0; for (var k in o) t += o[k]; return t; }
  function load(){
    Promise.all([api('/api/v1/info'), api('/api/v1/stats'), api('/api/v1/routes'), api('/api/v1/transactions?limit=15'), api('/api/v1/revenue?max_scan=2000')]).then(function(res){
      var info = res[0], stats = res[1].routes, routes = res[2].routes, tx = res[3].transactions, rev = res[4];
      $('error').textContent = ''; $('login').hidden = true; $('app').hidden = false;
      $('meta').textContent = 'v' + info.version + ' · ' + info.backend.name + (info.backend.network ? ' (' + info.backend.network + ')' : '') + ' · ' + info.store + ' · up ' + Math.round(info.uptime_secs / 60) + ' min';
      var req = 0, ch = 0, ver = 0, fail = 0;
      for (var k in stats) { req += sum(stats[k].requests || {}); ch += stats[k].challenges || 0; ver += stats[k].verified || 0; fail += sum(stats[k].failures || {}); }
      $('c-requests').textContent = req.toLocaleString(); $('c-challenges').textContent = ch.toLocaleString();
      $('c-verified').textContent = ver.toLocaleString(); $('c-failures').textContent = fail.toLocaleString();
      $('c-revenue').textContent = sat(rev.total.settled_msat) + (rev.truncated ? '+' : '');
      fill('routes', routes.map(function(r){
        var tr = document.createElement('tr'), s = stats[r.name] || {};
        cell(tr, r.name); cell(tr, (r.host || '') + r.path + (r.methods ? ' [' + r.methods.join(',') + ']' : ''), 'mono');
        cell(tr, r.price_msat === '0' ? 'free' : sat(r.price_msat)); cell(tr, r.access.type === 'pass' ? 'pass ' + r.access.duration_secs + 's' : r.access.type === 'credits' ? 'credits ' + r.access.amount + ' ' + r.access.unit : 'per-request');
        cell(tr, String(sum(s.requests || {}))); cell(tr, String(s.verified || 0));
        cell(tr, [r.dry_run ? 'dry-run' : '', r.hidden ? 'hidden' : ''].filter(Boolean).join(', '));
        return tr;
      }));
      fill('tx', tx.map(function(t){
        var tr = document.createElement('tr');
        cell(tr, new Date(t.created_at).toLocaleString()); cell(tr, t.route); cell(tr, sat(t.amount_msat));
        var p = document.createElement('span'); p.className = 'pill ' + t.status; p.textContent = t.status; cell(tr, '').appendChild(p);
        cell(tr, t.payment_hash.slice(0, 16) + '…', 'mono').title = t.payment_hash;
        return tr;
      }));
      clearTimeout(timer); timer = setTimeout(load, 10000);
    }).catch(function(e){
      $('error').textContent = e.message; $('login').hidden = false;
      if (/refused/.test(e.message)) { sessionStorage.removeItem('turnpike-admin-token'); $('app').hidden = true; }
    });
  }
  $('login').onsubmit = function(ev){ ev.preventDefault(); token = $('token').value.trim(); sessionStorage.setItem('turnpike-admin-token', token); load(); };
  if (token) load();
})();
</script>
</body>
</html>
`
