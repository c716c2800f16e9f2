/**
 * Group commit for the SQLite store: the writes made in one event-loop turn share one transaction.
 * @module
 */
import type { DatabaseSync } from 'node:sqlite'

type Job = {
  readonly fn: () => unknown
  readonly resolve: (value: unknown) => void
  readonly reject: (error: unknown) => void
}

/** Runs store calls in call order, the writes of one event-loop turn in one transaction. */
export type Batcher = {
  /**
   * Runs `fn` and resolves its result once it is committed. A write is queued and runs with every
   * other call queued in the same turn, in call order, inside one `BEGIN IMMEDIATE … COMMIT`
   * (flushed by `setImmediate`, so it takes in every request read from the sockets in one poll
   * phase; a microtask would flush after each socket's callback, one call per batch under HTTP load).
   * A read runs at once when nothing is queued, else it queues behind the writes it follows.
   */
  run<T>(fn: () => T, write: boolean): Promise<T>
  /** Runs what is queued now (before closing the connection). */
  flush(): void
}

/**
 * A {@link Batcher} on `db`. `fail(cause)` makes the error a caller receives; `committed(n)` is told
 * of every committed transaction of `n` calls.
 *
 * @remarks
 * Each call is judged by its own statements, which SQLite keeps atomic inside the transaction: a
 * statement that fails (a constraint, a missing table) undoes only its own changes and rejects only
 * its caller. When the transaction as a whole fails (the write lock not obtained within the busy
 * timeout, a full disk, an I/O error, or any error after which SQLite has already rolled back),
 * it is rolled back and every call in it rejects: none is reported as done unless it is committed.
 */
export function batcher(db: DatabaseSync, o: batcher.Options): Batcher {
  const { fail, committed } = o
  let queue: Job[] = []
  const flush = (): void => {
    const jobs = queue
    queue = []
    if (jobs.length === 0) return
    const abort = (cause: unknown): void => {
      try {
        if (db.isTransaction) db.exec('ROLLBACK')
      } catch {
        // Rolled back already, or the connection is gone; the callers learn of it below.
      }
      for (const j of jobs) j.reject(fail(cause))
    }
    try {
      db.exec('BEGIN IMMEDIATE')
    } catch (e) {
      abort(e)
      return
    }
    const results: unknown[] = []
    const failed: (Error | undefined)[] = []
    for (const j of jobs) {
      try {
        results.push(j.fn())
        failed.push(undefined)
      } catch (e) {
        if (fatal(db, e)) {
          abort(e)
          return
        }
        results.push(undefined)
        failed.push(fail(e))
      }
    }
    try {
      db.exec('COMMIT')
    } catch (e) {
      abort(e)
      return
    }
    jobs.forEach((j, i) => {
      const error = failed[i]
      if (error === undefined) j.resolve(results[i])
      else j.reject(error)
    })
    try {
      committed?.(jobs.length)
    } catch {
      // An observer's failure is not the batch's.
    }
  }
  return {
    run<T>(fn: () => T, write: boolean): Promise<T> {
      if (!write && queue.length === 0) {
        try {
          return Promise.resolve(fn())
        } catch (e) {
          return Promise.reject(fail(e))
        }
      }
      return new Promise<T>((resolve, reject) => {
        if (queue.length === 0) setImmediate(flush)
        queue.push({ fn, resolve: resolve as (value: unknown) => void, reject })
      })
    },
    flush,
  }
}

export declare namespace batcher {
  /** Options for {@link batcher}. */
  type Options = {
    readonly fail: (cause: unknown) => Error
    readonly committed?: (calls: number) => void
  }
}

/**
 * SQLite result codes after which the transaction must not go on (sqlite.org/lang_transaction.html,
 * "Response To Errors Within A Transaction"): BUSY, NOMEM, INTERRUPT, IOERR, CORRUPT, FULL.
 */
const fatalCodes = new Set([5, 7, 9, 10, 11, 13])

function fatal(db: DatabaseSync, e: unknown): boolean {
  if (!db.isOpen || !db.isTransaction) return true
  const code = (e as { errcode?: unknown } | null)?.errcode
  return typeof code === 'number' && fatalCodes.has(code & 0xff)
}
