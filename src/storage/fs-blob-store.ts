/**
 * BlobStore on the local file system: `<root>/<aa>/<key>.dcm`, spread over 256 folders by a hash of the
 * key. Files arrive from landing by hard link (same file system, no copy) under a temp name, or are
 * written there from memory (rewritten instances), then an atomic rename replaces any previous version
 * and the folder is fsynced. The folders are made (and made
 * durable) once, when the store opens; folder fsyncs are shared by the writes that wait for them.
 */
import { createReadStream } from 'node:fs';
import { copyFile, link, mkdir, open, readdir, rename, rm, stat, unlink } from 'node:fs/promises';
import { createHash, randomUUID } from 'node:crypto';
import { dirname, join } from 'node:path';
import type { BlobStore } from './blob-store.js';
import { NotFoundError, StorageError } from '../errors.js';
import { fsyncDir, fsyncFile } from '../pipeline/landing.js';

const KEY = /^[0-9A-Za-z._-]{1,128}$/;

/** Opens the store once its shard folders exist (made and fsynced on first use). */
export async function openFsBlobStore(root: string): Promise<BlobStore> {
  const pathOf = (key: string) => {
    if (!KEY.test(key) || key.startsWith('.')) throw new StorageError(`invalid storage key "${key}"`);
    const h = createHash('sha1').update(key).digest('hex');
    return join(root, h.slice(0, 2), `${key}.dcm`);
  };
  await prepareShards(root);
  const syncer = new DirSyncer();

  return {
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
        await rename(tmp, target);
        // The data (landing does not fsync), then the name. On ext4 the first fsync commits the journal
        // with the link and rename in it, so the folder fsync that follows is nearly free.
        await fsyncFile(target);
        await syncer.sync(dir);
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
        const handle = await open(tmp, 'w');
        try {
          for (let offset = 0; offset < bytes.length;)
            offset += (await handle.write(bytes, offset, bytes.length - offset)).bytesWritten;
          await handle.sync();
        } finally {
          await handle.close();
        }
        await rename(tmp, target);
        await syncer.sync(dir);
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
  };
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

  sync(dir: string): Promise<void> {
    let st = this.state.get(dir);
    if (!st) this.state.set(dir, (st = {}));
    const s = st;
    if (s.next) return s.next;
    const start = () => {
      s.running = fsyncDir(dir).finally(() => {
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
