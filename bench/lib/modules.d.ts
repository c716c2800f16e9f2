// Minimal types for the parts of autocannon 9 the benchmarks use (the package ships none).
declare module 'autocannon' {
  namespace autocannon {
    type Options = Record<string, unknown>
    type Histogram = { average: number; p50: number; p90: number; p99: number; max: number }
    type Result = { errors: number; timeouts: number; non2xx: number; latency: Histogram; requests: Histogram }
    type Instance = Promise<Result> & { on(event: 'response', fn: (client: unknown, status: number, bytes: number, ms: number) => void): void }
  }
  function autocannon(opts: autocannon.Options, cb?: (err: unknown, r: autocannon.Result) => void): autocannon.Instance
  export default autocannon
}

// The npm `macaroon` package (3.0.4, CommonJS, no types): only what bench/micro.ts calls.
declare module 'macaroon' {
  const macaroon: unknown
  export default macaroon
}
