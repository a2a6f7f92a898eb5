import { mkdtemp, readFile, writeFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { text } from 'node:stream/consumers';
import { afterAll, describe, expect, it } from 'vitest';
import { openFsBlobStore } from './fs-blob-store.js';
import { NotFoundError, StorageError } from '../errors.js';

describe('fs blob store', async () => {
  const root = await mkdtemp(join(tmpdir(), 'sluice-blobs-'));
  const store = await openFsBlobStore(join(root, 'storage'));
  afterAll(() => rm(root, { recursive: true, force: true }));
  const src = async (name: string, content: string) => {
    const p = join(root, name);
    await writeFile(p, content);
    return p;
  };

  it('stores, replaces atomically, streams, lists and deletes', async () => {
    await store.putFile('1.2.3', await src('a', 'first'));
    expect(await text((await store.open('1.2.3')).stream)).toBe('first');
    await store.putFile('1.2.3', await src('b', 'second'));
    expect(await readFile(store.localPath('1.2.3')!, 'utf8')).toBe('second');
    await store.putFile('1.2.4', await src('c', 'other'));
    const keys: string[] = [];
    for await (const k of store.keys()) keys.push(k);
    expect(keys.sort()).toEqual(['1.2.3', '1.2.4']);
    await store.delete('1.2.3');
    await store.delete('1.2.3');
    expect(await store.exists('1.2.3')).toBe(false);
    await expect(store.open('1.2.3')).rejects.toBeInstanceOf(NotFoundError);
  });

  it('keeps the source file (hard link) and leaves no temp files', async () => {
    const from = await src('d', 'linked');
    await store.putFile('9.9', from);
    expect(await readFile(from, 'utf8')).toBe('linked');
    const dir = store.localPath('9.9')!.replace(/\/[^/]+$/, '');
    expect((await readdir(dir)).filter((n) => n.startsWith('.'))).toEqual([]);
  });

  it('writes bytes from memory in place of the previous version, leaving no temp files', async () => {
    await store.putFile('7.7', await src('f', 'landed'));
    await store.putBytes('7.7', Buffer.from('rewritten in memory'));
    expect(await readFile(store.localPath('7.7')!, 'utf8')).toBe('rewritten in memory');
    await store.putBytes('7.8', Buffer.alloc(600_000, 3));
    expect((await readFile(store.localPath('7.8')!)).equals(Buffer.alloc(600_000, 3))).toBe(true);
    for (const key of ['7.7', '7.8']) {
      const dir = store.localPath(key)!.replace(/\/[^/]+$/, '');
      expect((await readdir(dir)).filter((n) => n.startsWith('.'))).toEqual([]);
    }
  });

  it('refuses keys that could escape the store', async () => {
    for (const key of ['../x', '/etc/passwd', '', '.hidden', 'a/b']) {
      await expect(store.putFile(key, await src('e', 'x'))).rejects.toBeInstanceOf(StorageError);
      await expect(store.putBytes(key, Buffer.from('x'))).rejects.toBeInstanceOf(StorageError);
    }
  });
});
