import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { describe, it } from 'node:test'

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
  exports: Record<string, string | { types: string; default: string }>
  bin: Record<string, string>
}

describe('package.json', () => {
  it('behavior: every export maps to a source file that loads under type stripping', async () => {
    for (const [subpath, target] of Object.entries(pkg.exports)) {
      if (typeof target === 'string') continue
      assert.match(target.default, /^\.\/dist\/.+\.js$/, subpath)
      assert.equal(target.types, target.default.replace(/\.js$/, '.d.ts'), subpath)
      const src = new URL(`../${target.default.replace(/^\.\/dist\//, 'src/').replace(/\.js$/, '.ts')}`, import.meta.url)
      assert.ok(existsSync(src), `${subpath} → ${src.pathname}`)
      const mod = (await import(src.href)) as Record<string, unknown>
      assert.ok(Object.keys(mod).length > 0, `${subpath} exports something`)
    }
  })

  it('behavior: the bin launcher exists and is executable', () => {
    const bin = new URL(`../${pkg.bin.turnpike}`, import.meta.url)
    assert.match(readFileSync(bin, 'utf8'), /^#!\/usr\/bin\/env node/)
  })
})
