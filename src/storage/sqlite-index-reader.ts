/**
 * A reader thread of the SQLite index (sqlite-index-readers.ts): its own read-only connection to the index
 * file, answering listings and queries one at a time (errors as data: worker-pool.ts).
 */
import Database from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';
import { failedAnswer, type WorkerAnswer } from '../worker-pool.js';
import { indexReads } from './sqlite-index-reads.js';

export interface ReadJob {
  method: 'list' | 'query';
  args: unknown[];
}

const port = parentPort;
if (!port) throw new Error('sqlite-index-reader.ts runs as a worker thread (see sqlite-index-readers.ts)');

const db = new Database((workerData as { path: string }).path, { readonly: true, fileMustExist: true });
db.pragma('busy_timeout = 5000');
const reads = indexReads(db);

port.on('message', ({ id, job }: { id: number; job: ReadJob }) => {
  let answer: WorkerAnswer;
  try {
    answer = { id, ok: true, result: (reads[job.method] as (...a: unknown[]) => unknown)(...job.args) };
  } catch (err) {
    answer = failedAnswer(id, err, 'INDEX.FAILED', 'index read failed');
  }
  port.postMessage(answer);
});
