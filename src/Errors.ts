/**
 * Typed errors with stable `TURNPIKE_*` codes and RFC 9457 problem details.
 * Every code is listed in docs/errors.md; a test keeps the two in sync.
 * @module
 */

const brand = Symbol.for('turnpike.error')

/** The registry: code → HTTP status and a short title. Codes are never reused. */
export const codes = {
  TURNPIKE_CREDENTIAL_MALFORMED: { status: 400, title: 'Malformed payment credential' },
  TURNPIKE_MACAROON_MALFORMED: { status: 400, title: 'Malformed macaroon' },
  TURNPIKE_IDENTIFIER_MALFORMED: { status: 400, title: 'Malformed macaroon identifier' },
  TURNPIKE_BOLT11_MALFORMED: { status: 400, title: 'Malformed BOLT11 invoice' },
  TURNPIKE_CAVEAT_MALFORMED: { status: 400, title: 'Malformed caveat' },
  TURNPIKE_BAD_REQUEST: { status: 400, title: 'Bad request' },
  TURNPIKE_PAYMENT_REQUIRED: { status: 402, title: 'Payment required' },
  TURNPIKE_PAYMENT_INVALID: { status: 402, title: 'Payment credential not accepted' },
  TURNPIKE_PAYMENT_PENDING: { status: 402, title: 'Payment not settled yet' },
  TURNPIKE_PAYMENT_METHOD_UNSUPPORTED: { status: 400, title: 'Payment method not supported' },
  TURNPIKE_CHALLENGE_MALFORMED: { status: 400, title: 'Malformed payment challenge' },
  TURNPIKE_CASHU_TOKEN_REJECTED: { status: 400, title: 'Cashu token not accepted' },
  TURNPIKE_CASHU_MINT_UNAVAILABLE: { status: 502, title: 'Cashu mint unavailable' },
  TURNPIKE_UNAUTHORIZED: { status: 401, title: 'Unauthorized' },
  TURNPIKE_FORBIDDEN: { status: 403, title: 'Forbidden' },
  TURNPIKE_NOT_FOUND: { status: 404, title: 'Not found' },
  TURNPIKE_METHOD_NOT_ALLOWED: { status: 405, title: 'Method not allowed' },
  TURNPIKE_PAYLOAD_TOO_LARGE: { status: 413, title: 'Payload too large' },
  TURNPIKE_RATE_LIMITED: { status: 429, title: 'Too many requests' },
  TURNPIKE_INVOICE_UNKNOWN: { status: 404, title: 'Unknown invoice' },
  TURNPIKE_INVOICE_EXPIRED: { status: 410, title: 'Invoice expired' },
  TURNPIKE_INVOICE_ALREADY_PAID: { status: 409, title: 'Invoice already paid' },
  TURNPIKE_BACKEND_UNAVAILABLE: { status: 503, title: 'Lightning backend unavailable' },
  TURNPIKE_BACKEND_ERROR: { status: 502, title: 'Lightning backend error' },
  TURNPIKE_STORE_UNAVAILABLE: { status: 503, title: 'State store unavailable' },
  TURNPIKE_PRICE_UNAVAILABLE: { status: 503, title: 'Price unavailable' },
  TURNPIKE_UPSTREAM_UNAVAILABLE: { status: 502, title: 'Upstream unavailable' },
  TURNPIKE_UPSTREAM_TIMEOUT: { status: 504, title: 'Upstream timed out' },
  TURNPIKE_CONFIG_INVALID: { status: 500, title: 'Invalid configuration' },
  TURNPIKE_INTERNAL: { status: 500, title: 'Internal error' },
  TURNPIKE_NOT_IMPLEMENTED: { status: 501, title: 'Not implemented' },
} as const

export type Code = keyof typeof codes

/** RFC 9457 problem details body. */
export type ProblemDetails = {
  type: string
  title: string
  status: number
  detail?: string
  code: Code
  [extra: string]: unknown
}

/**
 * Base error. `message` is safe to show to clients; `cause` (driver or node errors) is for logs only.
 * @example
 * throw new TurnpikeError('TURNPIKE_MACAROON_MALFORMED', 'truncated packet')
 */
export class TurnpikeError extends Error {
  readonly code: Code
  readonly status: number
  /** Client-safe extra members for the problem body. */
  readonly details: Readonly<Record<string, unknown>> | undefined
  /** Seconds, for 503/429 answers. */
  readonly retryAfter: number | undefined

  constructor(
    code: Code,
    message: string,
    options: { cause?: unknown; details?: Record<string, unknown>; retryAfter?: number } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'TurnpikeError'
    this.code = code
    this.status = codes[code].status
    this.details = options.details
    this.retryAfter = options.retryAfter
  }

  get [brand](): true {
    return true
  }

  /** The RFC 9457 body for this error. Never includes `cause`. */
  toProblemDetails(): ProblemDetails {
    return {
      type: `https://turnpike.dev/errors#${this.code.toLowerCase()}`,
      title: codes[this.code].title,
      status: this.status,
      detail: this.message,
      code: this.code,
      ...this.details,
    }
  }

  /** Brand check that also matches errors from a duplicated copy of the package. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[brand] === true
  }
}

/** True when `e` is a TurnpikeError, optionally with the given code. */
export function is(e: unknown, code?: Code): e is TurnpikeError {
  return e instanceof TurnpikeError && (code === undefined || e.code === code)
}

/** Config errors list every issue with its path. */
export class ConfigError extends TurnpikeError {
  readonly issues: readonly { path: string; message: string }[]
  constructor(issues: readonly { path: string; message: string }[]) {
    super(
      'TURNPIKE_CONFIG_INVALID',
      `Invalid configuration (${issues.length} issue${issues.length === 1 ? '' : 's'}):\n` +
        issues.map((i) => `  - ${i.path || '(root)'}: ${i.message}`).join('\n'),
    )
    this.name = 'ConfigError'
    this.issues = issues
  }
}
