/**
 * Where the shared reference material lives: `../shared/reference/` beside the repository (as laid
 * out for developers and CI), or `$TURNPIKE_REFERENCE_DIR`. Vectors are read, never copied into code.
 */
import { fileURLToPath } from 'node:url'

export const referenceDir: string =
  process.env['TURNPIKE_REFERENCE_DIR'] ?? fileURLToPath(new URL('../../shared/reference/', import.meta.url))
