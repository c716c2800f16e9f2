/**
 * A small QR code encoder (ISO/IEC 18004), so the payment page needs no network and no dependency.
 * One segment in alphanumeric mode (an upper-cased `LIGHTNING:LNBC…` URI fits it, 5.5 bits a
 * character) or byte mode, versions 1–40, the four error-correction levels, automatic mask choice.
 * @module
 */

export type Ecc = 'L' | 'M' | 'Q' | 'H'

/** A QR symbol: `size` × `size` modules, `true` = dark. */
export type QrCode = { readonly version: number; readonly ecc: Ecc; readonly mask: number; readonly size: number; readonly modules: readonly (readonly boolean[])[] }

// Per version 1–40 (index 0 unused). ISO/IEC 18004 table 9.
const eccPerBlock: Record<Ecc, readonly number[]> = {
  L: [-1, 7, 10, 15, 20, 26, 18, 20, 24, 30, 18, 20, 24, 26, 30, 22, 24, 28, 30, 28, 28, 28, 28, 30, 30, 26, 28, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30],
  M: [-1, 10, 16, 26, 18, 24, 16, 18, 22, 22, 26, 30, 22, 22, 24, 24, 28, 28, 26, 26, 26, 26, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28],
  Q: [-1, 13, 22, 18, 26, 18, 24, 18, 22, 20, 24, 28, 26, 24, 20, 30, 24, 28, 28, 26, 30, 28, 30, 30, 30, 30, 28, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30],
  H: [-1, 17, 28, 22, 16, 22, 28, 26, 26, 24, 28, 24, 28, 22, 24, 24, 30, 28, 28, 26, 28, 30, 24, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30],
}
const blockCount: Record<Ecc, readonly number[]> = {
  L: [-1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 4, 4, 4, 4, 4, 6, 6, 6, 6, 7, 8, 8, 9, 9, 10, 12, 12, 12, 13, 14, 15, 16, 17, 18, 19, 19, 20, 21, 22, 24, 25],
  M: [-1, 1, 1, 1, 2, 2, 4, 4, 4, 5, 5, 5, 8, 9, 9, 10, 10, 11, 13, 14, 16, 17, 17, 18, 20, 21, 23, 25, 26, 28, 29, 31, 33, 35, 37, 38, 40, 43, 45, 47, 49],
  Q: [-1, 1, 1, 2, 2, 4, 4, 6, 6, 8, 8, 8, 10, 12, 16, 12, 17, 16, 18, 21, 20, 23, 23, 25, 27, 29, 34, 34, 35, 38, 40, 43, 45, 48, 51, 53, 56, 59, 62, 65, 68],
  H: [-1, 1, 1, 2, 4, 4, 4, 5, 6, 8, 8, 11, 11, 16, 16, 18, 16, 19, 21, 25, 25, 25, 34, 30, 32, 35, 37, 40, 42, 45, 48, 51, 54, 57, 60, 63, 66, 70, 74, 77, 81],
}
const formatEcc: Record<Ecc, number> = { L: 1, M: 0, Q: 3, H: 2 }
const alphanumeric = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:'

/** Data modules of a version (everything but function patterns and format/version areas). */
function rawDataModules(ver: number): number {
  let n = (16 * ver + 128) * ver + 64
  if (ver >= 2) {
    const align = Math.floor(ver / 7) + 2
    n -= (25 * align - 10) * align - 55
    if (ver >= 7) n -= 36
  }
  return n
}

/** Data codewords (without error correction) of a version and level. */
export function dataCodewords(ver: number, ecc: Ecc): number {
  return Math.floor(rawDataModules(ver) / 8) - eccPerBlock[ecc][ver]! * blockCount[ecc][ver]!
}

function gfMul(x: number, y: number): number {
  let z = 0
  for (let i = 7; i >= 0; i--) {
    z = (z << 1) ^ ((z >>> 7) * 0x11d)
    z ^= ((y >>> i) & 1) * x
  }
  return z
}

function rsDivisor(degree: number): number[] {
  const r = new Array<number>(degree).fill(0)
  r[degree - 1] = 1
  let root = 1
  for (let i = 0; i < degree; i++) {
    for (let j = 0; j < degree; j++) {
      r[j] = gfMul(r[j]!, root)
      if (j + 1 < degree) r[j]! ^= r[j + 1]!
    }
    root = gfMul(root, 0x02)
  }
  return r
}

function rsRemainder(data: readonly number[], divisor: readonly number[]): number[] {
  const r = new Array<number>(divisor.length).fill(0)
  for (const b of data) {
    const factor = b ^ r.shift()!
    r.push(0)
    for (let i = 0; i < divisor.length; i++) r[i]! ^= gfMul(divisor[i]!, factor)
  }
  return r
}

type Segment = { mode: 'alnum' | 'byte'; count: number; bits: number[] }

function pushBits(out: number[], value: number, n: number): void {
  for (let i = n - 1; i >= 0; i--) out.push((value >>> i) & 1)
}

function segment(text: string): Segment {
  const bits: number[] = []
  if ([...text].every((c) => alphanumeric.includes(c))) {
    for (let i = 0; i + 1 < text.length; i += 2) pushBits(bits, alphanumeric.indexOf(text[i]!) * 45 + alphanumeric.indexOf(text[i + 1]!), 11)
    if (text.length % 2 === 1) pushBits(bits, alphanumeric.indexOf(text[text.length - 1]!), 6)
    return { mode: 'alnum', count: text.length, bits }
  }
  const bytes = new TextEncoder().encode(text)
  for (const b of bytes) pushBits(bits, b, 8)
  return { mode: 'byte', count: bytes.length, bits }
}

function countBits(mode: Segment['mode'], ver: number): number {
  const band = ver <= 9 ? 0 : ver <= 26 ? 1 : 2
  return mode === 'alnum' ? [9, 11, 13][band]! : [8, 16, 16][band]!
}

const segmentBits = (s: Segment, ver: number): number => 4 + countBits(s.mode, ver) + s.bits.length

/**
 * Encodes `text` at the smallest version that fits `ecc` (default M); the level is raised for free
 * when the data still fits. Throws a RangeError when the text does not fit version 40.
 * @example
 * const qr = encode(`LIGHTNING:${invoice.toUpperCase()}`)
 */
export function encode(text: string, o: { ecc?: Ecc; mask?: number } = {}): QrCode {
  const seg = segment(text)
  let ecc: Ecc = o.ecc ?? 'M'
  let ver = 1
  for (; ver <= 40; ver++) if (segmentBits(seg, ver) <= dataCodewords(ver, ecc) * 8) break
  if (ver > 40) throw new RangeError('QR: the text is too long')
  for (const better of ['M', 'Q', 'H'] as const) {
    if ('LMQH'.indexOf(better) > 'LMQH'.indexOf(ecc) && segmentBits(seg, ver) <= dataCodewords(ver, better) * 8) ecc = better
  }

  const bits: number[] = []
  pushBits(bits, seg.mode === 'alnum' ? 0b0010 : 0b0100, 4)
  pushBits(bits, seg.count, countBits(seg.mode, ver))
  bits.push(...seg.bits)
  const capacity = dataCodewords(ver, ecc) * 8
  pushBits(bits, 0, Math.min(4, capacity - bits.length))
  pushBits(bits, 0, (8 - (bits.length % 8)) % 8)
  for (let pad = 0xec; bits.length < capacity; pad ^= 0xec ^ 0x11) pushBits(bits, pad, 8)
  const data: number[] = []
  for (let i = 0; i < bits.length; i += 8) data.push(parseInt(bits.slice(i, i + 8).join(''), 2))

  return place(ver, ecc, interleave(data, ver, ecc), o.mask)
}

function interleave(data: readonly number[], ver: number, ecc: Ecc): number[] {
  const blocks = blockCount[ecc][ver]!
  const eccLen = eccPerBlock[ecc][ver]!
  const raw = Math.floor(rawDataModules(ver) / 8)
  const shortBlocks = blocks - (raw % blocks)
  const shortLen = Math.floor(raw / blocks)
  const divisor = rsDivisor(eccLen)
  const all: number[][] = []
  for (let i = 0, k = 0; i < blocks; i++) {
    const dat = data.slice(k, k + shortLen - eccLen + (i < shortBlocks ? 0 : 1))
    k += dat.length
    const e = rsRemainder(dat, divisor)
    if (i < shortBlocks) dat.push(0)
    all.push([...dat, ...e])
  }
  const out: number[] = []
  for (let i = 0; i < all[0]!.length; i++) {
    for (let j = 0; j < all.length; j++) if (i !== shortLen - eccLen || j >= shortBlocks) out.push(all[j]![i]!)
  }
  return out
}

function alignmentPositions(ver: number): number[] {
  if (ver === 1) return []
  const count = Math.floor(ver / 7) + 2
  const step = ver === 32 ? 26 : Math.ceil((ver * 4 + 4) / (count * 2 - 2)) * 2
  const out = [6]
  for (let pos = ver * 4 + 17 - 7; out.length < count; pos -= step) out.splice(1, 0, pos)
  return out
}

const maskFns: readonly ((x: number, y: number) => boolean)[] = [
  (x, y) => (x + y) % 2 === 0,
  (_x, y) => y % 2 === 0,
  (x) => x % 3 === 0,
  (x, y) => (x + y) % 3 === 0,
  (x, y) => (Math.floor(x / 3) + Math.floor(y / 2)) % 2 === 0,
  (x, y) => ((x * y) % 2) + ((x * y) % 3) === 0,
  (x, y) => (((x * y) % 2) + ((x * y) % 3)) % 2 === 0,
  (x, y) => (((x + y) % 2) + ((x * y) % 3)) % 2 === 0,
]

function place(ver: number, ecc: Ecc, codewords: readonly number[], forcedMask?: number): QrCode {
  const size = ver * 4 + 17
  const modules = Array.from({ length: size }, () => new Array<boolean>(size).fill(false))
  const fn = Array.from({ length: size }, () => new Array<boolean>(size).fill(false))
  const set = (x: number, y: number, dark: boolean) => {
    modules[y]![x] = dark
    fn[y]![x] = true
  }

  for (let i = 0; i < size; i++) {
    set(6, i, i % 2 === 0)
    set(i, 6, i % 2 === 0)
  }
  for (const [cx, cy] of [[3, 3], [size - 4, 3], [3, size - 4]] as const) {
    for (let dy = -4; dy <= 4; dy++) {
      for (let dx = -4; dx <= 4; dx++) {
        const x = cx + dx
        const y = cy + dy
        const d = Math.max(Math.abs(dx), Math.abs(dy))
        if (x >= 0 && x < size && y >= 0 && y < size) set(x, y, d !== 2 && d !== 4)
      }
    }
  }
  const align = alignmentPositions(ver)
  const last = align.length - 1
  for (let i = 0; i < align.length; i++) {
    for (let j = 0; j < align.length; j++) {
      if ((i === 0 && j === 0) || (i === 0 && j === last) || (i === last && j === 0)) continue
      for (let dy = -2; dy <= 2; dy++) {
        for (let dx = -2; dx <= 2; dx++) set(align[i]! + dx, align[j]! + dy, Math.max(Math.abs(dx), Math.abs(dy)) !== 1)
      }
    }
  }
  const drawFormat = (mask: number) => {
    const data = (formatEcc[ecc] << 3) | mask
    let rem = data
    for (let i = 0; i < 10; i++) rem = (rem << 1) ^ ((rem >>> 9) * 0x537)
    const bits = ((data << 10) | rem) ^ 0x5412
    const bit = (i: number) => ((bits >>> i) & 1) !== 0
    for (let i = 0; i <= 5; i++) set(8, i, bit(i))
    set(8, 7, bit(6))
    set(8, 8, bit(7))
    set(7, 8, bit(8))
    for (let i = 9; i < 15; i++) set(14 - i, 8, bit(i))
    for (let i = 0; i < 8; i++) set(size - 1 - i, 8, bit(i))
    for (let i = 8; i < 15; i++) set(8, size - 15 + i, bit(i))
    set(8, size - 8, true)
  }
  drawFormat(0) // reserves the area; redrawn with the chosen mask
  if (ver >= 7) {
    let rem = ver
    for (let i = 0; i < 12; i++) rem = (rem << 1) ^ ((rem >>> 11) * 0x1f25)
    const bits = (ver << 12) | rem
    for (let i = 0; i < 18; i++) {
      const dark = ((bits >>> i) & 1) !== 0
      const a = size - 11 + (i % 3)
      const b = Math.floor(i / 3)
      set(a, b, dark)
      set(b, a, dark)
    }
  }

  let i = 0
  for (let right = size - 1; right >= 1; right -= 2) {
    if (right === 6) right = 5
    for (let vert = 0; vert < size; vert++) {
      for (let j = 0; j < 2; j++) {
        const x = right - j
        const upward = ((right + 1) & 2) === 0
        const y = upward ? size - 1 - vert : vert
        if (!fn[y]![x] && i < codewords.length * 8) {
          modules[y]![x] = ((codewords[i >>> 3]! >>> (7 - (i & 7))) & 1) !== 0
          i++
        }
      }
    }
  }

  const applyMask = (m: number) => {
    const f = maskFns[m]!
    for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) if (!fn[y]![x] && f(x, y)) modules[y]![x] = !modules[y]![x]
  }
  let mask = forcedMask ?? -1
  if (mask < 0) {
    let best = Infinity
    for (let m = 0; m < 8; m++) {
      applyMask(m)
      drawFormat(m)
      const p = penalty(modules)
      if (p < best) {
        best = p
        mask = m
      }
      applyMask(m) // XOR again undoes it
    }
  }
  applyMask(mask)
  drawFormat(mask)
  return { version: ver, ecc, mask, size, modules }
}

/** ISO/IEC 18004 §7.8.3 penalty: runs, 2×2 blocks, finder-like patterns, dark/light balance. */
function penalty(m: readonly (readonly boolean[])[]): number {
  const size = m.length
  let score = 0
  const line = (get: (i: number) => boolean) => {
    let run = 1
    for (let i = 1; i <= size; i++) {
      if (i < size && get(i) === get(i - 1)) run++
      else {
        if (run >= 5) score += 3 + (run - 5)
        run = 1
      }
    }
    const at = (i: number) => (i < 0 || i >= size ? false : get(i))
    for (let i = -4; i < size; i++) {
      // 1:1:3:1:1 dark pattern with four light modules on one side.
      if (at(i + 4) && !at(i + 5) && at(i + 6) && at(i + 7) && at(i + 8) && !at(i + 9) && at(i + 10)) {
        const before = !at(i) && !at(i + 1) && !at(i + 2) && !at(i + 3)
        const after = !at(i + 11) && !at(i + 12) && !at(i + 13) && !at(i + 14)
        if (before || after) score += 40
      }
    }
  }
  for (let y = 0; y < size; y++) line((x) => m[y]![x]!)
  for (let x = 0; x < size; x++) line((y) => m[y]![x]!)
  let dark = 0
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      if (m[y]![x]) dark++
      if (x + 1 < size && y + 1 < size) {
        const c = m[y]![x]
        if (m[y]![x + 1] === c && m[y + 1]![x] === c && m[y + 1]![x + 1] === c) score += 3
      }
    }
  }
  const total = size * size
  score += Math.floor(Math.abs(dark * 20 - total * 10) / total) * 10
  return score
}

/** An SVG of the symbol with a 4-module quiet zone; one path, crisp edges. */
export function toSvg(s: QrCode, o: { label?: string } = {}): string {
  const q = 4
  const n = s.size + 2 * q
  let d = ''
  for (let y = 0; y < s.size; y++) {
    for (let x = 0; x < s.size; ) {
      if (!s.modules[y]![x]) {
        x++
        continue
      }
      let w = 1
      while (x + w < s.size && s.modules[y]![x + w]) w++
      d += `M${x + q} ${y + q}h${w}v1h-${w}z`
      x += w
    }
  }
  const label = o.label ? ` role="img" aria-label="${o.label.replace(/[<>&"]/g, '')}"` : ''
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${n} ${n}" shape-rendering="crispEdges"${label}><rect width="${n}" height="${n}" fill="#fff"/><path fill="#000" d="${d}"/></svg>`
}
