/**
 * Reader threads of the SQLite index: the metadata listings and queries (the routes that can read thousands
 * of rows to answer a page) run on worker threads, each with a read-only connection of its own, instead of
 * on the event loop's connection. SQLite in WAL mode lets them read side by side, and beside the writer:
 * four clients' pages no longer wait for each other on one thread, and neither do the DICOM listeners. A
 * reader sees every write committed before its statement starts (the writer commits before it answers).
 * Readers start on first use; one that dies fails only its own read and is replaced on demand.
 */
import { Worker } from 'node:worker_threads';
import { BadRequestError, SluiceError } from '../errors.js';
import type { ReadAnswer, ReadJob } from './sqlite-index-reader.js';

// Compiled (dist/server), the reader is plain JavaScript; from the sources, the .mjs registers tsx first.
const READER_URL = new URL(
  import.meta.url.endsWith('.js') ? './sqlite-index-reader.js' : './sqlite-index-reader.mjs',
  import.meta.url,
);

interface Pending {
  job: ReadJob;
  resolve: (value: never) => void;
  reject: (err: Error) => void;
}

interface Slot {
  worker: Worker;
  current?: Pending;
}

export class IndexReaders {
  private readonly slots: Slot[] = [];
  private readonly queue: Pending[] = [];
  private nextId = 1;
  private closed = false;

  constructor(
    private readonly path: string,
    readonly size: number,
  ) {}

  run<T>(method: ReadJob['method'], ...args: unknown[]): Promise<T> {
    if (this.closed) return Promise.reject(new SluiceError('INDEX.CLOSED', 'the index is closed', 503));
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ job: { id: this.nextId++, method, args }, resolve: resolve as never, reject });
      this.dispatch();
    });
  }

  private dispatch(): void {
    while (this.queue.length) {
      let slot = this.slots.find((s) => !s.current);
      if (!slot && this.slots.length < this.size) slot = this.spawn();
      if (!slot) return;
      const pending = this.queue.shift()!;
      slot.current = pending;
      slot.worker.postMessage(pending.job);
    }
  }

  private spawn(): Slot {
    const worker = new Worker(READER_URL, { workerData: { path: this.path } });
    const slot: Slot = { worker };
    worker.unref();
    worker.on('message', (answer: ReadAnswer) => {
      const pending = slot.current;
      if (!pending || pending.job.id !== answer.id) return;
      slot.current = undefined;
      if (answer.ok) pending.resolve(answer.result as never);
      else
        pending.reject(
          // A bad listing or query (a property that does not exist, bad paging) is the caller's 400, as on
          // the event loop's connection.
          answer.code === 'API.BAD_REQUEST'
            ? new BadRequestError(answer.message)
            : new SluiceError(answer.code, answer.message, answer.status),
        );
      this.dispatch();
    });
    worker.on('error', (err) =>
      this.fail(slot, new SluiceError('INDEX.READ_FAILED', `index reader failed: ${err.message}`, 500)),
    );
    worker.on('exit', (code) => {
      if (!this.closed)
        this.fail(slot, new SluiceError('INDEX.READ_FAILED', `index reader exited (${code})`, 500));
    });
    this.slots.push(slot);
    return slot;
  }

  /** Fails the slot's read, drops the reader (another starts on demand) and goes on with the queue. */
  private fail(slot: Slot, err: SluiceError): void {
    const index = this.slots.indexOf(slot);
    if (index < 0) return;
    this.slots.splice(index, 1);
    slot.current?.reject(err);
    slot.current = undefined;
    void slot.worker.terminate();
    this.dispatch();
  }

  async close(): Promise<void> {
    this.closed = true;
    const closed = () => new SluiceError('INDEX.CLOSED', 'the index is closed', 503);
    for (const pending of this.queue.splice(0)) pending.reject(closed());
    for (const slot of this.slots) slot.current?.reject(closed());
    await Promise.all(this.slots.splice(0).map((slot) => slot.worker.terminate()));
  }
}
