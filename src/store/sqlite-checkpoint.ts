/**
 * The SQLite store's checkpoint thread: on each message it runs `PRAGMA wal_checkpoint(PASSIVE)` on
 * its own connection, so that copying WAL frames into the database file, and the two fsyncs that
 * come with it, happen off the event loop. It answers each message with the checkpoint's row.
 * PASSIVE never waits for, nor blocks, a reader or a writer. An error ends the thread; the store's
 * connection then checkpoints by itself, as it always may.
 * @module
 */
import { parentPort, workerData } from 'node:worker_threads'
import { DatabaseSync } from 'node:sqlite'

const port = parentPort
if (port === null) throw new Error('sqlite-checkpoint runs in a worker thread')
const db = new DatabaseSync((workerData as { path: string }).path)
// Checkpoints sync the WAL before and the database file after copying, as the store's connection does.
db.exec('PRAGMA synchronous = NORMAL')
const checkpoint = db.prepare('PRAGMA wal_checkpoint(PASSIVE)')
port.on('message', () => {
  port.postMessage({ ...checkpoint.get() })
})
