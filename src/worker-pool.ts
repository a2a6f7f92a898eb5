/**
 * A bounded pool of worker threads that answer jobs one at a time each: the render workers (render/pool.ts)
 * and the index's reader threads (storage/sqlite-index-readers.ts). Workers start on demand, up to `size`;
 * jobs beyond them wait in a queue, bounded if asked (past it a job is refused with 503 at once rather than
 * letting requests pile up). A job that runs too long has its worker terminated and replaced; a worker that
 * dies fails only its own job. Workers answer errors as data (code, message, status), rebuilt here as the
 * same SluiceError (a bad request stays a BadRequestError).
 */
import { Worker } from 'node:worker_threads';
import { BadRequestError, SluiceError } from './errors.js';

/** What a worker posts back for the job `{ id, job }` it was sent. */
export type WorkerAnswer<R = unknown> =
  | { id: number; ok: true; result: R }
  | { id: number; ok: false; code: string; message: string; status: number };

/** The failed answer for an error thrown by a job: a SluiceError as it is, anything else as `fallbackCode`. */
export function failedAnswer(
  id: number,
  err: unknown,
  fallbackCode: string,
  what: string,
): WorkerAnswer<never> {
  const e =
    err instanceof SluiceError
      ? err
      : new SluiceError(fallbackCode, `${what}: ${(err as Error).message}`, 500);
  return { id, ok: false, code: e.code, message: e.message, status: e.httpStatus };
}

export interface WorkerPoolOptions {
  url: URL;
  /** Worker threads at most. */
  size: number;
  workerData?: unknown;
  /** Jobs that may wait for a worker in bounded runs; more are refused with 503 (default: no bound). */
  maxQueue?: number;
  /** A job running longer has its worker terminated (500); default: no limit. */
  jobTimeoutMs?: number;
  /** Error codes start with it (`RENDER`: RENDER.BUSY, RENDER.TIMEOUT, RENDER.FAILED, RENDER.CLOSED). */
  codePrefix: string;
  /** What the workers do, for messages ("render", "index reader"). */
  label: string;
  /** The message of the error that answers jobs once the pool is closed. */
  closedMessage: string;
}

interface Pending {
  id: number;
  job: unknown;
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
}

interface Slot {
  worker: Worker;
  current?: Pending;
  timer?: NodeJS.Timeout;
}

export class WorkerPool<Job> {
  private readonly slots: Slot[] = [];
  private readonly queue: Pending[] = [];
  private nextId = 1;
  private closed = false;

  constructor(private readonly options: WorkerPoolOptions) {}

  get size(): number {
    return this.options.size;
  }

  /** Jobs running and waiting (for metrics and tests). */
  get load(): { running: number; waiting: number } {
    return { running: this.slots.filter((s) => s.current).length, waiting: this.queue.length };
  }

  /** Runs `job` on a worker; `bounded` jobs are refused with 503 when the queue is full. */
  run(job: Job, bounded = true): Promise<unknown> {
    const { codePrefix, maxQueue, label } = this.options;
    if (this.closed) return Promise.reject(this.closedError());
    if (bounded && maxQueue !== undefined && this.queue.length >= maxQueue)
      return Promise.reject(
        new SluiceError(
          `${codePrefix}.BUSY`,
          `the ${label} queue is full (${this.queue.length} waiting): retry later`,
          503,
        ),
      );
    return new Promise((resolve, reject) => {
      this.queue.push({ id: this.nextId++, job, resolve, reject });
      this.dispatch();
    });
  }

  private closedError(): SluiceError {
    return new SluiceError(`${this.options.codePrefix}.CLOSED`, this.options.closedMessage, 503);
  }

  private dispatch(): void {
    const { size, jobTimeoutMs, codePrefix, label } = this.options;
    while (this.queue.length) {
      let slot = this.slots.find((s) => !s.current);
      if (!slot && this.slots.length < size) slot = this.spawn();
      if (!slot) return;
      const pending = this.queue.shift()!;
      slot.current = pending;
      if (jobTimeoutMs !== undefined) {
        const running = slot;
        running.timer = setTimeout(
          () =>
            this.fail(
              running,
              new SluiceError(`${codePrefix}.TIMEOUT`, `${label} took longer than ${jobTimeoutMs} ms`, 500),
            ),
          jobTimeoutMs,
        );
      }
      slot.worker.postMessage({ id: pending.id, job: pending.job });
    }
  }

  private spawn(): Slot {
    const { url, workerData, codePrefix, label } = this.options;
    const worker = new Worker(url, { workerData });
    const slot: Slot = { worker };
    worker.unref();
    worker.on('message', (answer: WorkerAnswer) => {
      const pending = slot.current;
      if (!pending || pending.id !== answer.id) return;
      clearTimeout(slot.timer);
      slot.current = undefined;
      if (answer.ok) pending.resolve(answer.result);
      else
        pending.reject(
          answer.code === 'API.BAD_REQUEST'
            ? new BadRequestError(answer.message)
            : new SluiceError(answer.code, answer.message, answer.status),
        );
      this.dispatch();
    });
    worker.on('error', (err) =>
      this.fail(slot, new SluiceError(`${codePrefix}.FAILED`, `${label} worker failed: ${err.message}`, 500)),
    );
    worker.on('exit', (code) => {
      if (!this.closed)
        this.fail(slot, new SluiceError(`${codePrefix}.FAILED`, `${label} worker exited (${code})`, 500));
    });
    this.slots.push(slot);
    return slot;
  }

  /** Fails the slot's job, drops the worker (a new one is spawned on demand) and goes on with the queue. */
  private fail(slot: Slot, err: SluiceError): void {
    const index = this.slots.indexOf(slot);
    if (index < 0) return;
    this.slots.splice(index, 1);
    clearTimeout(slot.timer);
    slot.current?.reject(err);
    slot.current = undefined;
    void slot.worker.terminate();
    this.dispatch();
  }

  /** Refuses new jobs, fails those waiting and running, and ends the workers. */
  async close(): Promise<void> {
    this.closed = true;
    for (const pending of this.queue.splice(0)) pending.reject(this.closedError());
    const slots = this.slots.splice(0);
    for (const slot of slots) {
      clearTimeout(slot.timer);
      slot.current?.reject(this.closedError());
    }
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }
}
