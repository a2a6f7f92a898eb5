/**
 * The landing directory is the pipeline's durable buffer: a source writes each incoming object to a temp
 * name, fsyncs it and renames it into `landing/`, and only then is it an envelope. The file stays there
 * until its envelope is settled, so a crash at any point leaves it to be processed again at start.
 * The origin is encoded in the name (`<id>.<sourceType>.<sourceId>.dcm`): no second file to fsync.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, unlink } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform, type Readable } from 'node:stream';
import { randomUUID } from 'node:crypto';
import type { SourceRef, SourceType } from './origin.js';
import { SluiceError, StorageError, storageError, TooLargeError } from '../errors.js';

export interface LandedFile {
  id: string;
  path: string;
  ref: SourceRef;
}

export interface LandingWriter {
  readonly id: string;
  readonly stream: WriteStream;
  /** Ends the stream and renames it into landing; resolves with the landed file. */
  commit(): Promise<LandedFile>;
  /** Discards the temp file. */
  abort(): Promise<void>;
}

/**
 * fsync of a file or a folder by path. fsync works per file, not per descriptor: a fresh descriptor
 * flushes what any writer wrote; on a folder it makes its entries (new names) durable.
 */
export async function fsyncPath(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
export const fsyncFile = fsyncPath;
export const fsyncDir = fsyncPath;

export class Landing {
  private readonly tmpDir: string;
  private ready: Promise<void>;
  constructor(readonly dir: string) {
    this.tmpDir = join(dir, 'tmp');
    this.ready = mkdir(this.tmpDir, { recursive: true }).then(() => undefined);
  }

  /** Opens a temp file for a source to write into. */
  async writer(ref: SourceRef): Promise<LandingWriter> {
    await this.ready;
    const id = `${Date.now().toString(36)}-${randomUUID().slice(0, 13)}`;
    const tmp = join(this.tmpDir, id);
    const stream = createWriteStream(tmp, { highWaterMark: 256 * 1024 });
    let settled = false;
    // 'close' (not 'finish'): the stream has closed its descriptor, so nothing races our fsync or rm.
    const closed = new Promise<void>((resolve, reject) => {
      stream.once('close', resolve);
      stream.once('error', reject);
    });
    closed.catch(() => undefined); // observed in commit(); an aborted writer never awaits it
    const commit = async (): Promise<LandedFile> => {
      if (settled) throw new StorageError(`landing file ${id} already settled`);
      settled = true;
      try {
        stream.end();
        await closed;
        const path = join(this.dir, `${id}.${ref.sourceType}.${ref.sourceId}.dcm`);
        await rename(tmp, path);
        return { id, path, ref };
      } catch (err) {
        await rm(tmp, { force: true });
        throw storageError('cannot land incoming object', err);
      }
    };
    const abort = async () => {
      if (settled) return;
      settled = true;
      stream.destroy();
      await closed.catch(() => undefined);
      await rm(tmp, { force: true });
    };
    return { id, stream, commit, abort };
  }

  /**
   * Names the landing file of an object held in memory (a small C-STORE dataset) without writing it: the
   * storage sink writes the object once, where it is stored, and `write` lands it only when it must be
   * (quarantine, or a pipeline that stores nothing). Nothing is lost by not landing it: the sender is
   * answered only once a sink made it durable, and a crash before that leaves the sender to send it again.
   */
  hold(ref: SourceRef): LandedFile {
    const id = `${Date.now().toString(36)}-${randomUUID().slice(0, 13)}`;
    return { id, path: join(this.dir, `${id}.${ref.sourceType}.${ref.sourceId}.dcm`), ref };
  }

  /** Lands a held object at the path `hold` named: one write to a temp name, then a rename. */
  async write(path: string, content: Buffer): Promise<void> {
    await this.ready;
    const tmp = join(this.tmpDir, basename(path));
    try {
      const handle = await open(tmp, 'w');
      try {
        for (let offset = 0; offset < content.length;)
          offset += (await handle.write(content, offset, content.length - offset)).bytesWritten;
      } finally {
        await handle.close();
      }
      await rename(tmp, path);
    } catch (err) {
      await rm(tmp, { force: true });
      throw storageError('cannot land incoming object', err);
    }
  }

  /**
   * Lands a whole readable stream (HTTP body, file copy). With `maxBytes`, reading stops as soon as the
   * stream passes it (TooLargeError) and nothing of it is kept.
   */
  async land(body: Readable, ref: SourceRef, maxBytes = Infinity): Promise<LandedFile> {
    const w = await this.writer(ref);
    let size = 0;
    const limit = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        size += chunk.length;
        done(size > maxBytes ? new TooLargeError('the object', maxBytes) : null, chunk);
      },
    });
    try {
      await pipeline(body, limit, w.stream, { end: false });
    } catch (err) {
      await w.abort();
      if (err instanceof SluiceError) throw err;
      // A write that failed (disk full) rather than a sender that went away.
      throw w.stream.errored ? storageError('cannot land incoming object', err) : err;
    }
    return w.commit();
  }

  /**
   * Makes a landed file durable (data and name). Landing itself does not fsync: the storage sink makes
   * the stored copy durable, which costs one journal commit instead of two; the runner calls this before
   * acknowledging an envelope that no sink made durable.
   */
  async makeDurable(path: string): Promise<void> {
    await fsyncFile(path);
    await fsyncDir(this.dir);
  }

  /** Removes a landed file once its envelope is settled. */
  async release(path: string): Promise<void> {
    await unlink(path).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
  }

  /**
   * At start: temp files were never acknowledged and are removed; committed files are returned to be
   * processed again.
   */
  async recover(): Promise<LandedFile[]> {
    await this.ready;
    for (const name of await readdir(this.tmpDir)) await rm(join(this.tmpDir, name), { force: true });
    const out: LandedFile[] = [];
    for (const name of (await readdir(this.dir)).sort()) {
      const m = /^([^.]+)\.([a-z]+)\.(-?\d+)\.dcm$/.exec(name);
      if (!m) continue;
      out.push({
        id: m[1],
        path: join(this.dir, name),
        ref: { sourceType: m[2] as SourceType, sourceId: Number(m[3]) },
      });
    }
    return out;
  }
}
