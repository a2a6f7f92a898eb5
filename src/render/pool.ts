/**
 * A bounded pool of render worker threads, so that decoding, PNG encoding and the decompression of instances
 * for peers that refuse their compressed syntax (transcode.ts) never run on the event loop that serves the
 * API and the DICOM listeners. Jobs beyond the workers wait in a bounded queue; past it the
 * pool answers 503 at once rather than letting requests pile up. A job that runs too long has its worker
 * terminated and replaced; a worker that dies fails only its own job.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
// sharp's shared libraries must be loaded by the main thread before worker threads use them (sharp's docs).
import 'sharp';
import { SluiceError } from '../errors.js';
import type { RenderAnswer, RenderJob } from './worker.js';
import type { ImageInformation, PngRequest, PngResult } from './render.js';

export interface RenderPoolOptions {
  /** Worker threads; default: the cores, at most 4. */
  workers?: number;
  /** Jobs that may wait for a worker; more are refused with 503. */
  maxQueue?: number;
  /** A job running longer has its worker terminated (500). */
  jobTimeoutMs?: number;
}

interface Pending {
  id: number;
  job: RenderJob;
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
}

interface Slot {
  worker: Worker;
  current?: Pending;
  timer?: NodeJS.Timeout;
}

// Compiled (dist/server, `npm run build`), the worker is plain JavaScript; from the sources, worker.mjs
// registers tsx first.
const WORKER_URL = new URL(import.meta.url.endsWith('.js') ? './worker.js' : './worker.mjs', import.meta.url);

export class RenderPool {
  readonly size: number;
  private readonly maxQueue: number;
  private readonly jobTimeoutMs: number;
  private readonly slots: Slot[] = [];
  private readonly queue: Pending[] = [];
  private nextId = 1;
  private closed = false;

  constructor(options: RenderPoolOptions = {}) {
    this.size = Math.max(1, options.workers ?? Math.min(4, availableParallelism()));
    this.maxQueue = options.maxQueue ?? 64;
    this.jobTimeoutMs = options.jobTimeoutMs ?? 60_000;
  }

  png(request: PngRequest): Promise<PngResult> {
    return this.run({ kind: 'png', ...request }) as Promise<PngResult>;
  }

  information(path: string): Promise<ImageInformation> {
    return this.run({ kind: 'info', path }) as Promise<ImageInformation>;
  }

  /**
   * A stored compressed instance decompressed for a send (transcode.ts), as a Part-10 file. Not refused
   * when the queue is full: each association waits for at most one, so their number is bounded already.
   */
  async transcode(path: string, transferSyntaxUid: string): Promise<Buffer> {
    const bytes = (await this.run({ kind: 'transcode', path, transferSyntaxUid }, false)) as Uint8Array;
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /** Jobs running and waiting (for metrics and tests). */
  get load(): { running: number; waiting: number } {
    return { running: this.slots.filter((s) => s.current).length, waiting: this.queue.length };
  }

  private run(job: RenderJob, bounded = true): Promise<unknown> {
    if (this.closed)
      return Promise.reject(new SluiceError('RENDER.CLOSED', 'the renderer is shutting down', 503));
    if (bounded && this.queue.length >= this.maxQueue)
      return Promise.reject(
        new SluiceError(
          'RENDER.BUSY',
          `the render queue is full (${this.queue.length} waiting): retry later`,
          503,
        ),
      );
    return new Promise((resolve, reject) => {
      this.queue.push({ id: this.nextId++, job, resolve, reject });
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
      slot.timer = setTimeout(() => this.fail(slot!, this.timeoutError()), this.jobTimeoutMs);
      slot.worker.postMessage({ id: pending.id, job: pending.job });
    }
  }

  private timeoutError(): SluiceError {
    return new SluiceError('RENDER.TIMEOUT', `rendering took longer than ${this.jobTimeoutMs} ms`, 500);
  }

  private spawn(): Slot {
    const worker = new Worker(WORKER_URL);
    const slot: Slot = { worker };
    worker.unref();
    worker.on('message', (answer: RenderAnswer) => {
      const pending = slot.current;
      if (!pending || pending.id !== answer.id) return;
      clearTimeout(slot.timer);
      slot.current = undefined;
      if (answer.ok) pending.resolve(answer.result);
      else pending.reject(new SluiceError(answer.code, answer.message, answer.status));
      this.dispatch();
    });
    worker.on('error', (err) =>
      this.fail(slot, new SluiceError('RENDER.FAILED', `render worker failed: ${err.message}`, 500)),
    );
    worker.on('exit', (code) => {
      if (!this.closed)
        this.fail(slot, new SluiceError('RENDER.FAILED', `render worker exited (${code})`, 500));
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

  async close(): Promise<void> {
    this.closed = true;
    const closing = new SluiceError('RENDER.CLOSED', 'the renderer is shutting down', 503);
    for (const pending of this.queue.splice(0)) pending.reject(closing);
    const slots = this.slots.splice(0);
    for (const slot of slots) {
      clearTimeout(slot.timer);
      slot.current?.reject(closing);
    }
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }
}
