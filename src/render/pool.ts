/**
 * A bounded pool of render worker threads (worker-pool.ts), so that decoding, PNG encoding and the
 * decompression of instances for peers that refuse their compressed syntax (transcode.ts) never run on the
 * event loop that serves the API and the DICOM listeners. Jobs beyond the workers wait in a bounded queue;
 * past it the pool answers 503 at once. A job that runs too long has its worker terminated and replaced.
 */
import { availableParallelism } from 'node:os';
// sharp's shared libraries must be loaded by the main thread before worker threads use them (sharp's docs).
import 'sharp';
import { WorkerPool } from '../worker-pool.js';
import type { RenderJob } from './worker.js';
import type { ImageInformation, PngRequest, PngResult } from './render.js';

export interface RenderPoolOptions {
  /** Worker threads; default: the cores, at most 4. */
  workers?: number;
  /** Jobs that may wait for a worker; more are refused with 503. */
  maxQueue?: number;
  /** A job running longer has its worker terminated (500). */
  jobTimeoutMs?: number;
}

// Compiled (dist/server, `npm run build`), the worker is plain JavaScript; from the sources, worker.mjs
// registers tsx first.
const WORKER_URL = new URL(import.meta.url.endsWith('.js') ? './worker.js' : './worker.mjs', import.meta.url);

export class RenderPool {
  private readonly pool: WorkerPool<RenderJob>;

  constructor(options: RenderPoolOptions = {}) {
    this.pool = new WorkerPool<RenderJob>({
      url: WORKER_URL,
      size: Math.max(1, options.workers ?? Math.min(4, availableParallelism())),
      maxQueue: options.maxQueue ?? 64,
      jobTimeoutMs: options.jobTimeoutMs ?? 60_000,
      codePrefix: 'RENDER',
      label: 'render',
      closedMessage: 'the renderer is shutting down',
    });
  }

  get size(): number {
    return this.pool.size;
  }

  png(request: PngRequest): Promise<PngResult> {
    return this.pool.run({ kind: 'png', ...request }) as Promise<PngResult>;
  }

  information(path: string): Promise<ImageInformation> {
    return this.pool.run({ kind: 'info', path }) as Promise<ImageInformation>;
  }

  /**
   * A stored compressed instance decompressed for a send (transcode.ts), as a Part-10 file. Not refused
   * when the queue is full: each association waits for at most one, so their number is bounded already.
   */
  async transcode(path: string, transferSyntaxUid: string): Promise<Buffer> {
    const bytes = (await this.pool.run({ kind: 'transcode', path, transferSyntaxUid }, false)) as Uint8Array;
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /** Jobs running and waiting (for metrics and tests). */
  get load(): { running: number; waiting: number } {
    return this.pool.load;
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
