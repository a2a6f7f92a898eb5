/**
 * A reader thread of the SQLite index (sqlite-index-readers.ts): its own read-only connection to the index
 * file, answering listings and queries one at a time. Errors go back as data (code, message, status) so the
 * pool can rebuild the same SluiceError on the other side.
 */
import Database from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';
import { SluiceError } from '../errors.js';
import { indexReads } from './sqlite-index-reads.js';

export interface ReadJob {
  id: number;
  method: 'list' | 'query';
  args: unknown[];
}
export type ReadAnswer =
  | { id: number; ok: true; result: unknown }
  | { id: number; ok: false; code: string; message: string; status: number };

const port = parentPort;
if (!port) throw new Error('sqlite-index-reader.ts runs as a worker thread (see sqlite-index-readers.ts)');

const db = new Database((workerData as { path: string }).path, { readonly: true, fileMustExist: true });
db.pragma('busy_timeout = 5000');
const reads = indexReads(db);

port.on('message', ({ id, method, args }: ReadJob) => {
  let answer: ReadAnswer;
  try {
    const result = (reads[method] as (...a: unknown[]) => unknown)(...args);
    answer = { id, ok: true, result };
  } catch (err) {
    answer =
      err instanceof SluiceError
        ? { id, ok: false, code: err.code, message: err.message, status: err.httpStatus }
        : { id, ok: false, code: 'INDEX.READ_FAILED', message: (err as Error).message, status: 500 };
  }
  port.postMessage(answer);
});
