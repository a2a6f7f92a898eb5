import { Writable } from 'node:stream';
import type { SourceRef } from '../../core/envelope.js';
import { buildFileMeta } from '../../core/dicom.js';
import type { LandedFile, Landing, LandingWriter } from '../../core/landing.js';
import { StorageError } from '../../core/errors.js';

/** Datasets up to this size are gathered in memory and landed with one vectored write. */
const IN_MEMORY_LIMIT = 8 * 1024 * 1024;

/**
 * Receives the PDV bytes of one C-STORE dataset and lands them behind a file meta header we write.
 * dcmjs-dimse needs the Writable synchronously. Small datasets are kept in memory (one writev + fsync at
 * the end: far fewer syscalls than a write per 16 KiB PDV); past IN_MEMORY_LIMIT they spill to a landing
 * file as they arrive, so a huge instance never sits whole in memory.
 */
export class LandedStoreStream extends Writable {
  private chunks: Buffer[] = [];
  private size = 0;
  private spill: Promise<LandingWriter> | undefined;
  private readonly meta: Buffer;
  private readonly done: Promise<void>;

  constructor(
    private readonly landing: Landing,
    private readonly info: {
      sopClassUid: string;
      sopInstanceUid: string;
      transferSyntaxUid: string;
      sourceAeTitle?: string;
      ref: SourceRef;
    },
  ) {
    super({ highWaterMark: 1024 * 1024 });
    this.meta = buildFileMeta(info);
    this.done = new Promise((resolve) => {
      this.once('finish', resolve);
      this.once('error', () => resolve());
    });
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (!this.spill) {
      this.chunks.push(chunk);
      this.size += chunk.length;
      if (this.size <= IN_MEMORY_LIMIT) return cb();
      this.spill = this.landing.writer(this.info.ref);
      const buffered = [this.meta, ...this.chunks];
      this.chunks = [];
      this.spill.then(
        (w) => writeAll(w.stream, buffered).then(() => cb(), cb),
        (err: Error) => cb(err),
      );
      return;
    }
    this.spill.then(
      (w) => writeAll(w.stream, [chunk]).then(() => cb(), cb),
      (err: Error) => cb(err),
    );
  }

  /**
   * Waits for all bytes, fsyncs and renames into landing. Discards the file on failure. Returns the bytes
   * too when they were kept in memory, so the header is parsed without reading the file back.
   */
  async commit(): Promise<LandedFile & { content?: Buffer }> {
    await this.done;
    if (!this.spill) {
      if (this.errored) throw new StorageError(`receiving failed: ${this.errored.message}`);
      const content = Buffer.concat([this.meta, ...this.chunks]);
      this.chunks = [];
      return { ...(await this.landing.landBuffers([content], this.info.ref)), content };
    }
    const w = await this.spill;
    if (this.errored) {
      await w.abort();
      throw new StorageError(`receiving failed: ${this.errored.message}`);
    }
    return w.commit();
  }
}

async function writeAll(stream: NodeJS.WritableStream, buffers: Buffer[]): Promise<void> {
  for (const b of buffers)
    if (!stream.write(b)) await new Promise<void>((resolve) => stream.once('drain', () => resolve()));
}
