import { performance } from 'node:perf_hooks';
import type { SourceRef } from '../../pipeline/origin.js';
import type { LandedFile, Landing, LandingWriter } from '../../pipeline/landing.js';
import { StorageError } from '../../errors.js';
import type { ScpLimits } from './limits.js';
import type { BlobDraft } from '../../storage/blob-store.js';

/** Datasets up to this size are gathered in memory and landed with one write. */
const IN_MEMORY_LIMIT = 8 * 1024 * 1024;

/**
 * Gathers the PDV values of one C-STORE dataset behind the file meta header we wrote. Small datasets stay
 * in memory (the header is parsed from memory, operators may rewrite it) while the SCP's memory budget
 * allows, and are written into the blob store as they arrive (a draft under the SOP Instance UID the
 * request announced), so the storage sink only has to make them durable; past IN_MEMORY_LIMIT, or past
 * the budget, they spill to a landing file instead, so memory stays bounded whatever the peers send.
 */
export class DatasetReceiver {
  private chunks: Buffer[];
  private size = 0;
  /** Bytes taken from the budget, returned by `release` once the instance is settled. */
  private held = 0;
  private writer: Promise<LandingWriter> | undefined;
  private spilled: Promise<void> = Promise.resolve();
  /** When the C-STORE request arrived (performance.now()), for the `receive` stage. */
  readonly startedAt = performance.now();

  constructor(
    private readonly landing: Landing,
    meta: Buffer,
    private readonly ref: SourceRef,
    private readonly limits?: ScpLimits,
    /** Where the dataset is written as it arrives, when the pipeline stores what it receives. */
    private draft?: BlobDraft,
  ) {
    this.chunks = [meta];
    this.size = meta.length;
    draft?.write(meta);
  }

  push(value: Buffer): void {
    if (!this.writer) {
      this.chunks.push(value);
      this.size += value.length;
      if (this.size <= IN_MEMORY_LIMIT && this.take(value.length)) {
        this.draft?.write(value);
        return;
      }
      void this.draft?.discard();
      this.draft = undefined;
      this.writer = this.landing.writer(this.ref);
      const pending = this.chunks;
      this.chunks = [];
      this.release();
      this.spilled = this.writer.then((w) => writeAll(w.stream, pending));
      return;
    }
    const writer = this.writer;
    this.spilled = this.spilled.then(() => writer.then((w) => writeAll(w.stream, [value])));
  }

  /**
   * The dataset as the pipeline takes it: held in memory (`content`, not written to landing; see
   * Landing.hold), or the landed file it spilled to.
   */
  async commit(): Promise<LandedFile & { content?: Buffer; draft?: BlobDraft }> {
    if (!this.writer) {
      const content = Buffer.concat(this.chunks, this.size);
      this.chunks = [];
      return { ...this.landing.hold(this.ref), content, draft: this.draft };
    }
    const w = await this.writer;
    try {
      await this.spilled;
    } catch (err) {
      await w.abort();
      throw new StorageError(`cannot land incoming object: ${(err as Error).message}`, { cause: err });
    }
    return w.commit();
  }

  /** Drops what was received (association aborted mid-dataset). */
  async abort(): Promise<void> {
    this.chunks = [];
    this.release();
    await this.draft?.discard();
    if (this.writer) await (await this.writer).abort();
  }

  /** Returns the budget this dataset held: once its instance is settled, or when it spilled. */
  release(): void {
    this.limits?.free(this.held);
    this.held = 0;
  }

  private take(bytes: number): boolean {
    if (!this.limits) return true;
    if (!this.limits.hold(bytes)) return false;
    this.held += bytes;
    return true;
  }
}

async function writeAll(stream: NodeJS.WritableStream, buffers: Buffer[]): Promise<void> {
  for (const b of buffers)
    if (!stream.write(b)) await new Promise<void>((resolve) => stream.once('drain', () => resolve()));
}
