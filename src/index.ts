/**
 * turnpike: a Lightning payment gateway for HTTP APIs. The root export is a namespace barrel of the
 * protocol codecs and the gateway core; stores, backends and middleware sit on their own subpaths.
 * @example
 * import { Macaroon, L402 } from 'turnpike'
 * @module
 */
export * as Bolt11 from './Bolt11.ts'
export * as Caveat from './Caveat.ts'
export * as Config from './Config.ts'
export * as Errors from './Errors.ts'
export * as Gateway from './Gateway.ts'
export * as Identifier from './Identifier.ts'
export * as L402 from './L402.ts'
export * as Lightning from './Lightning.ts'
export * as Macaroon from './Macaroon.ts'
export * as Mpp from './Mpp.ts'
export * as RequestView from './RequestView.ts'
export * as Token from './Token.ts'
export * as X402 from './X402.ts'
export type { Store, InvoiceRecord } from './Store.ts'
export { TurnpikeError, ConfigError } from './Errors.ts'
