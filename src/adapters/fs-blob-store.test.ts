import { mkdtemp, readFile, writeFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { text } from 'node:stream/consumers';
import { afterAll, describe, expect, it } from 'vitest';
import { openFsBlobStore } from './fs-blob-store.js';
import { NotFoundError, StorageError } from '../core/errors.js';

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

  it('refuses keys that could escape the store', async () => {
    for (const key of ['../x', '/etc/passwd', '', '.hidden', 'a/b'])
      await expect(store.putFile(key, await src('e', 'x'))).rejects.toBeInstanceOf(StorageError);
  });
});
