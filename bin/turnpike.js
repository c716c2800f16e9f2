#!/usr/bin/env node
// Runs the TypeScript sources directly when they are present (a git checkout, Node ≥ 22.18 strips
// types), and the compiled dist/ otherwise (the published package ships dist/ only).
import { existsSync } from 'node:fs'

const src = new URL('../src/bin.ts', import.meta.url)
const dist = new URL('../dist/bin.js', import.meta.url)
const useSrc = existsSync(src) && process.features.typescript
if (!useSrc && !existsSync(dist)) {
  process.stderr.write('turnpike: neither dist/ nor a Node.js that strips TypeScript types (>= 22.18) is available.\n')
  process.exit(1)
}
await import((useSrc ? src : dist).href)
