/**
 * BlobStore on the local file system: `<root>/<aa>/<key>.dcm`, spread over 256 folders by a hash of the
 * key. Files arrive from landing by hard link (same file system, no copy) under a temp name, or are
 * written there from memory (rewritten instances), then an atomic rename replaces any previous version
 * and the folder is fsynced. The folders are made (and made
 * durable) once, when the store opens; folder fsyncs are shared by the writes that wait for them.
 */
import { createReadStream } from 'node:fs';
import {
  copyFile,
  link,
  mkdir,
  open,
  readdir,
  rename,
  rm,
  stat,
  unlink,
  type FileHandle,
} from 'node:fs/promises';
import { createHash, randomUUID } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import type { BlobDraft, BlobStore } from './blob-store.js';
import { NotFoundError, StorageError, storageError } from '../errors.js';
import { fsyncDir, fsyncFile } from '../pipeline/landing.js';
import { now, type StageTimings } from '../pipeline/stage-timings.js';

const KEY = /^[0-9A-Za-z._-]{1,128}$/;

/** Opens the store once its shard folders exist (made and fsynced on first use). */
export async function openFsBlobStore(root: string, timings?: StageTimings): Promise<BlobStore> {
  const mark = (stage: string, since: number) => {
    const t = now();
    timings?.record(stage, t - since);
    return t;
  };
  const pathOf = (key: string) => {
    if (!KEY.test(key) || key.startsWith('.')) throw new StorageError(`invalid storage key "${key}"`);
    const h = createHash('sha1').update(key).digest('hex');
    return join(root, h.slice(0, 2), `${key}.dcm`);
  };
  await prepareShards(root);
  const syncer = new DirSyncer();

  return {
    draft: (key) => new FsDraft(pathOf(key), syncer, mark),
    async putFile(key, fromPath) {
      const target = pathOf(key);
      const dir = dirname(target);
      const tmp = join(dir, `.${randomUUID()}.tmp`);
      try {
        await link(fromPath, tmp);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EXDEV')
          throw new StorageError(`cannot store ${key}: ${(err as Error).message}`, { cause: err });
        await copyFile(fromPath, tmp);
      }
      try {
        let t = now();
        await rename(tmp, target);
        // The data (landing does not fsync), then the name. On ext4 the first fsync commits the journal
        // with the link and rename in it, so the folder fsync that follows is nearly free.
        await fsyncFile(target);
        t = mark('storage.fsync', t);
        await syncer.sync(dir);
        mark('storage.rename', t);
      } catch (err) {
        await rm(tmp, { force: true });
        throw new StorageError(`cannot store ${key}: ${(err as Error).message}`, { cause: err });
      }
    },
    async putBytes(key, bytes) {
      const target = pathOf(key);
      const dir = dirname(target);
      const tmp = join(dir, `.${randomUUID()}.tmp`);
      try {
        let t = now();
        const handle = await open(tmp, 'w');
        try {
          for (let offset = 0; offset < bytes.length;)
            offset += (await handle.write(bytes, offset, bytes.length - offset)).bytesWritten;
          t = mark('storage.write', t);
          await handle.sync();
          t = mark('storage.fsync', t);
        } finally {
          await handle.close();
        }
        await rename(tmp, target);
        await syncer.sync(dir);
        mark('storage.rename', t);
      } catch (err) {
        await rm(tmp, { force: true });
        throw new StorageError(`cannot store ${key}: ${(err as Error).message}`, { cause: err });
      }
    },
    async open(key) {
      const path = pathOf(key);
      try {
        const { size } = await stat(path);
        return { stream: createReadStream(path, { highWaterMark: 256 * 1024 }), size };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new NotFoundError(`stored file ${key}`);
        throw err;
      }
    },
    localPath: (key) => pathOf(key),
    async stat(key) {
      return stat(pathOf(key)).then(
        (s) => ({ size: s.size, modifiedMs: s.mtimeMs }),
        (err: NodeJS.ErrnoException) => {
          if (err.code === 'ENOENT') return undefined;
          throw err;
        },
      );
    },
    async exists(key) {
      return stat(pathOf(key)).then(
        () => true,
        () => false,
      );
    },
    async delete(key) {
      await unlink(pathOf(key)).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      });
    },
    async *keys() {
      let shards: string[];
      try {
        shards = await readdir(root);
      } catch {
        return;
      }
      for (const shard of shards) {
        if (shard.length !== 2) continue;
        for (const name of await readdir(join(root, shard)).catch(() => [] as string[]))
          if (name.endsWith('.dcm') && !name.startsWith('.')) yield name.slice(0, -4);
      }
    },
    // The data directory's disk is checked by readiness (SLUICE_MIN_FREE_MB).
    problem: () => undefined,
    close: async () => undefined,
  };
}

/**
 * A draft in the store's folder: bytes go to a temp file as they arrive (one gathering write at a time),
 * and `commit` makes it the stored file. A new object is linked under its name and then fsynced, so one
 * journal commit makes data and name durable together (the folder fsync after it finds nothing left to do);
 * an object that replaces a stored one is fsynced under its temp name first and then renamed over it, so
 * a crash can never leave the previous, acknowledged version replaced by a torn one. A crash before commit
 * leaves only a temp name, removed when the store opens again.
 */
class FsDraft implements BlobDraft {
  private readonly tmp: string;
  private readonly handle: Promise<FileHandle>;
  private queue: Buffer[] = [];
  private writing: Promise<void> | undefined;
  private failed: Error | undefined;
  private state: 'open' | 'committed' | 'discarded' = 'open';

  constructor(
    private readonly target: string,
    private readonly syncer: DirSyncer,
    private readonly mark: (stage: string, since: number) => number,
  ) {
    this.tmp = join(dirname(target), `.${randomUUID()}.tmp`);
    this.handle = open(this.tmp, 'w');
    this.handle.catch((err: Error) => (this.failed ??= err));
  }

  get key(): string {
    return basename(this.target, '.dcm');
  }

  write(bytes: Buffer): void {
    if (this.state !== 'open' || this.failed) return;
    this.queue.push(bytes);
    this.writing ??= this.pump();
  }

  /** Writes what is queued, one writev at a time, until the queue is empty. */
  private async pump(): Promise<void> {
    try {
      const handle = await this.handle;
      while (this.queue.length && !this.failed) {
        const batch = this.queue;
        this.queue = [];
        let total = batch.reduce((n, b) => n + b.length, 0);
        let { bytesWritten } = await handle.writev(batch);
        // A short write (rare) continues with what is left.
        while (bytesWritten < total) {
          const rest = Buffer.concat(batch).subarray(bytesWritten);
          total -= bytesWritten;
          ({ bytesWritten } = await handle.write(rest, 0, rest.length));
        }
      }
    } catch (err) {
      this.failed ??= err as Error;
    } finally {
      this.writing = undefined;
    }
  }

  async commit(): Promise<void> {
    if (this.state === 'committed') return;
    if (this.state === 'discarded') throw new StorageError(`the draft of ${this.key} was discarded`);
    let t = now();
    while (this.writing) await this.writing;
    if (this.failed) {
      await this.discard();
      throw storageError(`cannot store ${this.key}`, this.failed);
    }
    const handle = await this.handle;
    t = this.mark('storage.write', t);
    const dir = dirname(this.target);
    let fresh = true;
    try {
      await link(this.tmp, this.target).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'EEXIST') throw err;
        fresh = false;
      });
      await handle.sync();
      t = this.mark('storage.fsync', t);
      if (!fresh) await rename(this.tmp, this.target);
      await this.syncer.sync(dir);
      this.mark('storage.rename', t);
      this.state = 'committed';
    } catch (err) {
      await this.discard();
      throw storageError(`cannot store ${this.key}`, err);
    }
    await handle.close();
    // The temp name of a fresh object goes after the fact: a crash before leaves it to the next open.
    if (fresh) void unlink(this.tmp).catch(() => undefined);
  }

  async discard(): Promise<void> {
    if (this.state !== 'open') return;
    this.state = 'discarded';
    this.queue = [];
    while (this.writing) await this.writing;
    const handle = await this.handle.catch(() => undefined);
    await handle?.close().catch(() => undefined);
    await rm(this.tmp, { force: true });
  }
}

/** Makes the 256 shard folders once, and makes their names durable. */
async function prepareShards(root: string): Promise<void> {
  await mkdir(root, { recursive: true });
  const existing = new Set(await readdir(root));
  let created = false;
  for (let i = 0; i < 256; i++) {
    const name = i.toString(16).padStart(2, '0');
    if (existing.has(name)) {
      // Temp links left by a crash between link and rename were never acknowledged.
      for (const f of await readdir(join(root, name)))
        if (f.startsWith('.') && f.endsWith('.tmp')) await rm(join(root, name, f), { force: true });
      continue;
    }
    await mkdir(join(root, name));
    created = true;
  }
  if (created) {
    await fsyncDir(root);
    await fsyncDir(dirname(root));
  }
}

/**
 * Group commit for folder fsyncs: a caller whose rename happened while a fsync of the same folder was
 * already running waits for the next one, which then covers every caller that queued behind it.
 */
class DirSyncer {
  private readonly state = new Map<string, { running?: Promise<void>; next?: Promise<void> }>();
  /** One open descriptor per folder (256 at most): a folder fsync is then one call, not open + fsync + close. */
  private readonly handles = new Map<string, Promise<FileHandle>>();

  private async fsync(dir: string): Promise<void> {
    let handle = this.handles.get(dir);
    if (!handle) {
      handle = open(dir, 'r');
      this.handles.set(dir, handle);
      handle.catch(() => this.handles.delete(dir));
    }
    await (await handle).sync();
  }

  sync(dir: string): Promise<void> {
    let st = this.state.get(dir);
    if (!st) this.state.set(dir, (st = {}));
    const s = st;
    if (s.next) return s.next;
    const start = () => {
      s.running = this.fsync(dir).finally(() => {
        s.running = undefined;
      });
      return s.running;
    };
    if (!s.running) return start();
    s.next = s.running
      .catch(() => undefined)
      .then(() => {
        s.next = undefined;
        return start();
      });
    return s.next;
  }
}
