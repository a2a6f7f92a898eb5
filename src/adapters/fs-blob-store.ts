/**
 * BlobStore on the local file system: `<root>/<aa>/<bb>/<key>.dcm`, sharded by a hash of the key so
 * no directory grows without bound. Files arrive from landing by hard link (same file system, no copy)
 * under a temp name, then an atomic rename replaces any previous version; the directory is fsynced.
 */
import { createReadStream } from 'node:fs';
import { copyFile, link, mkdir, open, readdir, rename, rm, stat, unlink } from 'node:fs/promises';
import { createHash, randomUUID } from 'node:crypto';
import { dirname, join } from 'node:path';
import type { BlobStore } from '../core/ports.js';
import { NotFoundError, StorageError } from '../core/errors.js';
import { fsyncDir } from '../core/landing.js';

const KEY = /^[0-9A-Za-z._-]{1,128}$/;

export function openFsBlobStore(root: string): BlobStore {
  const pathOf = (key: string) => {
    if (!KEY.test(key) || key.startsWith('.')) throw new StorageError(`invalid storage key "${key}"`);
    const h = createHash('sha1').update(key).digest('hex');
    return join(root, h.slice(0, 2), h.slice(2, 4), `${key}.dcm`);
  };
  const knownDirs = new Set<string>();

  return {
    async putFile(key, fromPath) {
      const target = pathOf(key);
      const dir = dirname(target);
      if (!knownDirs.has(dir)) {
        await mkdir(dir, { recursive: true });
        knownDirs.add(dir);
      }
      const tmp = join(dir, `.${randomUUID()}.tmp`);
      try {
        await link(fromPath, tmp);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EXDEV')
          throw new StorageError(`cannot store ${key}: ${(err as Error).message}`, { cause: err });
        await copyFile(fromPath, tmp);
        const h = await open(tmp, 'r+');
        await h.sync().finally(() => h.close());
      }
      try {
        await rename(tmp, target);
        await fsyncDir(dir);
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
      let level1: string[];
      try {
        level1 = await readdir(root);
      } catch {
        return;
      }
      for (const a of level1) {
        if (a.length !== 2) continue;
        for (const b of await readdir(join(root, a)).catch(() => [] as string[]))
          for (const name of await readdir(join(root, a, b)).catch(() => [] as string[]))
            if (name.endsWith('.dcm') && !name.startsWith('.')) yield name.slice(0, -4);
      }
    },
  };
}
