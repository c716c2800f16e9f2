/**
 * A small validator for the grpc-gateway swagger 2.0 descriptions in
 * `reference/data/lnd/*.swagger.json`, with LND's JSON marshalling rules on top (backends.md §1):
 * snake_case keys; every field of a message present (EmitUnpopulated), unset sub-messages as `null`;
 * no unknown keys; 64-bit integers (`type: string, format: int64|uint64`) as decimal strings;
 * 32-bit integers as JSON numbers; bytes as standard base64; enums as their names.
 * @module
 */
import { readFileSync } from 'node:fs'
import { referenceDir } from '../reference.ts'

export type Schema = {
  type?: string
  format?: string
  $ref?: string
  properties?: Record<string, Schema>
  additionalProperties?: Schema | boolean
  items?: Schema
  enum?: string[]
  title?: string
}

export type Swagger = {
  paths: Record<string, Record<string, { responses: Record<string, { schema?: Schema }> }>>
  definitions: Record<string, Schema>
}

const dataDir = `${referenceDir}data/lnd`

/** Loads one of the LND swagger files (`lightning` or `invoices`). */
export function loadSwagger(which: 'lightning' | 'invoices'): Swagger {
  const file = process.env.TURNPIKE_LND_SWAGGER_DIR ?? dataDir
  return JSON.parse(readFileSync(`${file}/${which}.swagger.json`, 'utf8')) as Swagger
}

/** True when the reference data is present (tests skip otherwise). */
export function hasSwagger(): boolean {
  try {
    readFileSync(`${process.env.TURNPIKE_LND_SWAGGER_DIR ?? dataDir}/lightning.swagger.json`)
    return true
  } catch {
    return false
  }
}

/** The response schema of `method path` for `status` (falls back to `default`). */
export function responseSchema(spec: Swagger, method: string, path: string, status: number): Schema | undefined {
  const op = spec.paths[path]?.[method.toLowerCase()]
  if (op === undefined) return undefined
  return (op.responses[String(status)] ?? op.responses.default)?.schema
}

const int64 = /^-?\d+$/
const uint64 = /^\d+$/
const stdBase64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/
const snake = /^[a-z0-9]+(?:_[a-z0-9]+)*$|^@type$/

/** Validates `value` against `schema`; returns the problems found (empty when valid). */
export function validate(spec: Swagger, schema: Schema, value: unknown, at = '$', fromDefinition = false): string[] {
  if (schema.$ref !== undefined) {
    const name = schema.$ref.replace('#/definitions/', '')
    const def = spec.definitions[name]
    if (def === undefined) return [`${at}: unknown $ref ${schema.$ref}`]
    return validate(spec, def, value, at, true)
  }
  const problems: string[] = []
  if (schema.enum !== undefined) {
    if (typeof value !== 'string' || !schema.enum.includes(value)) problems.push(`${at}: ${JSON.stringify(value)} is not one of ${schema.enum.join('|')}`)
    return problems
  }
  switch (schema.type) {
    case 'string':
      if (typeof value !== 'string') return [`${at}: expected a string (${schema.format ?? 'text'}), got ${JSON.stringify(value)}`]
      if (schema.format === 'int64' && !int64.test(value)) problems.push(`${at}: int64 must be a decimal string`)
      if (schema.format === 'uint64' && !uint64.test(value)) problems.push(`${at}: uint64 must be a decimal string`)
      if (schema.format === 'byte' && !stdBase64.test(value)) problems.push(`${at}: bytes must be standard base64`)
      return problems
    case 'integer':
      if (typeof value !== 'number' || !Number.isInteger(value)) problems.push(`${at}: expected an integer number, got ${JSON.stringify(value)}`)
      return problems
    case 'number':
      if (typeof value !== 'number') problems.push(`${at}: expected a number`)
      return problems
    case 'boolean':
      if (typeof value !== 'boolean') problems.push(`${at}: expected a boolean`)
      return problems
    case 'array':
      if (!Array.isArray(value)) return [`${at}: expected an array (empty arrays are emitted as [])`]
      value.forEach((v, i) => problems.push(...validate(spec, schema.items ?? {}, v, `${at}[${i}]`)))
      return problems
    case 'object':
    case undefined: {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) return [`${at}: expected an object, got ${JSON.stringify(value)}`]
      const obj = value as Record<string, unknown>
      const props = schema.properties ?? {}
      for (const [k, v] of Object.entries(obj)) {
        if (!snake.test(k) && schema.additionalProperties === undefined) problems.push(`${at}.${k}: key is not snake_case`)
        const p = props[k]
        if (p !== undefined) {
          if (v === null && isMessage(spec, p)) continue // unset sub-message
          problems.push(...validate(spec, p, v, `${at}.${k}`))
        } else if (schema.additionalProperties !== undefined && schema.additionalProperties !== false) {
          if (typeof schema.additionalProperties === 'object') problems.push(...validate(spec, schema.additionalProperties, v, `${at}[${JSON.stringify(k)}]`))
        } else {
          problems.push(`${at}.${k}: unknown field`)
        }
      }
      if (fromDefinition) {
        for (const k of Object.keys(props)) if (!(k in obj)) problems.push(`${at}.${k}: missing (LND emits every field)`)
      }
      return problems
    }
    default:
      return [`${at}: unsupported schema type ${schema.type}`]
  }
}

function isMessage(spec: Swagger, s: Schema): boolean {
  if (s.$ref === undefined) return s.type === 'object'
  const def = spec.definitions[s.$ref.replace('#/definitions/', '')]
  return def !== undefined && def.enum === undefined && (def.type === 'object' || def.type === undefined)
}
