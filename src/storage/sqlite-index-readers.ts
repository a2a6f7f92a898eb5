/**
 * Reader threads of the SQLite index: the metadata listings and queries (the routes that can read thousands
 * of rows to answer a page) run on worker threads (worker-pool.ts), each with a read-only connection of its
 * own, instead of on the event loop's connection. SQLite in WAL mode lets them read side by side, and beside
 * the writer: four clients' pages no longer wait for each other on one thread, and neither do the DICOM
 * listeners. A reader sees every write committed before its statement starts (the writer commits before it
 * answers). Readers start on first use; one that dies fails only its own read and is replaced on demand.
 */
import { WorkerPool } from '../worker-pool.js';
import type { ReadJob } from './sqlite-index-reader.js';

// Compiled (dist/server), the reader is plain JavaScript; from the sources, the .mjs registers tsx first.
const READER_URL = new URL(
  import.meta.url.endsWith('.js') ? './sqlite-index-reader.js' : './sqlite-index-reader.mjs',
  import.meta.url,
);

export class IndexReaders {
  private readonly pool: WorkerPool<ReadJob>;

  constructor(path: string, size: number) {
    this.pool = new WorkerPool<ReadJob>({
      url: READER_URL,
      size,
      workerData: { path },
      codePrefix: 'INDEX',
      label: 'index reader',
      closedMessage: 'the index is closed',
    });
  }

  run<T>(method: ReadJob['method'], ...args: unknown[]): Promise<T> {
    return this.pool.run({ method, args }) as Promise<T>;
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
