/**
 * The BlobStore contract, the same test bodies over each adapter: the file store and the S3 store (on the
 * suite's MinIO, test/s3-setup.ts; small parts and list pages, so that multipart uploads and pagination run).
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { afterAll, describe, expect, inject, it, vi } from 'vitest';
import { makeInstance, newUid } from '../../test/fixtures/dicom-fixtures.js';
import { parseHeader } from '../dicom/header.js';
import { NotFoundError, StorageError } from '../errors.js';
import type { BlobStore } from './blob-store.js';
import { openFsBlobStore } from './fs-blob-store.js';
import { reconcile } from './reconcile.js';
import { openS3BlobStore, S3BlobStore } from './s3-blob-store.js';
import { openSqliteIndex } from './sqlite-index.js';
import { readStoredHeader, readWhole, storedObject, withLocalFile } from './stored-object.js';

const MiB = 1024 * 1024;
const scratch = await mkdtemp(join(tmpdir(), 'sluice-contract-'));
afterAll(() => rm(scratch, { recursive: true, force: true }));

const adapters: Record<string, () => Promise<BlobStore>> = {
  fs: async () => openFsBlobStore(join(scratch, randomUUID())),
  s3: async () =>
    openS3BlobStore({
      location: { bucket: inject('s3').bucket, prefix: `contract/${randomUUID()}/` },
      partBytes: 5 * MiB,
      listPageSize: 3,
    }),
};

/** Bytes that differ at every position, so that a part out of order or missing shows. */
const pattern = (length: number, seed: number) => {
  const b = Buffer.alloc(length);
  for (let i = 0; i + 4 <= length; i += 4) b.writeUInt32LE((i * 2654435761 + seed) >>> 0, i);
  return b;
};
const src = async (content: string | Buffer) => {
  const p = join(scratch, randomUUID());
  await writeFile(p, content);
  return p;
};
const read = async (store: BlobStore, key: string) => buffer((await store.open(key)).stream);
const allKeys = async (store: BlobStore) => {
  const keys: string[] = [];
  for await (const k of store.keys()) keys.push(k);
  return keys.sort();
};

describe.each(Object.keys(adapters))('blob store contract: %s', async (name) => {
  const store = await adapters[name]();
  afterAll(() => store.close());

  it('stores, replaces, streams, lists, describes and deletes', async () => {
    await store.putFile('1.2.3', await src('first'));
    expect((await read(store, '1.2.3')).toString()).toBe('first');
    expect((await store.open('1.2.3')).size).toBe(5);
    await store.putFile('1.2.3', await src('second'));
    expect((await read(store, '1.2.3')).toString()).toBe('second');
    await store.putBytes('1.2.4', Buffer.from('other'));
    expect(await allKeys(store)).toEqual(['1.2.3', '1.2.4']);
    expect(await store.stat('1.2.3')).toEqual({ size: 6, modifiedMs: expect.any(Number) });
    expect(await store.exists('1.2.4')).toBe(true);
    await store.delete('1.2.3');
    await store.delete('1.2.3');
    expect(await store.exists('1.2.3')).toBe(false);
    expect(await store.stat('1.2.3')).toBeUndefined();
    await expect(store.open('1.2.3')).rejects.toBeInstanceOf(NotFoundError);
    expect(await allKeys(store)).toEqual(['1.2.4']);
    expect(store.problem()).toBeUndefined();
  });

  it('keeps the source of putFile', async () => {
    const from = await src('kept');
    await store.putFile('9.9', from);
    expect(await readFile(from, 'utf8')).toBe('kept');
  });

  it('stores large objects whole and in order (multipart above the part size), from files, memory and drafts', async () => {
    const commands: string[] = [];
    if (store instanceof S3BlobStore) {
      const send = store.client.send.bind(store.client);
      vi.spyOn(store.client, 'send').mockImplementation(((command: object) => {
        commands.push(command.constructor.name);
        return send(command as never);
      }) as never);
    }
    const big = pattern(12 * MiB + 123, 1);
    await store.putFile('8.1', await src(big));
    expect((await read(store, '8.1')).equals(big)).toBe(true);
    const bigger = pattern(11 * MiB + 7, 2);
    await store.putBytes('8.2', bigger);
    expect((await read(store, '8.2')).equals(bigger)).toBe(true);
    const draft = store.draft('8.3');
    for (let i = 0; i < big.length; i += 16 * 1024 + 3) draft.write(big.subarray(i, i + 16 * 1024 + 3));
    await draft.commit();
    expect((await read(store, '8.3')).equals(big)).toBe(true);
    expect((await store.open('8.3')).size).toBe(big.length);
    if (store instanceof S3BlobStore) {
      // Three objects of three parts each, each part its own request: never one PUT of the whole.
      expect(commands.filter((c) => c === 'CompleteMultipartUploadCommand')).toHaveLength(3);
      expect(commands.filter((c) => c === 'UploadPartCommand')).toHaveLength(9);
      expect(commands).not.toContain('PutObjectCommand');
      vi.restoreAllMocks();
    }
  });

  it('makes a draft visible only at commit, replacing the previous version; discarding leaves nothing', async () => {
    await store.putBytes('5.1', Buffer.from('old version'));
    const draft = store.draft('5.1');
    expect(draft.key).toBe('5.1');
    draft.write(Buffer.from('new '));
    draft.write(Buffer.from('version'));
    expect((await read(store, '5.1')).toString()).toBe('old version');
    await draft.commit();
    await draft.commit();
    await draft.discard(); // a no-op after commit
    expect((await read(store, '5.1')).toString()).toBe('new version');

    const dropped = store.draft('5.2');
    dropped.write(pattern(6 * MiB, 3)); // past one part: an upload in progress is aborted
    await dropped.discard();
    await dropped.discard();
    await expect(dropped.commit()).rejects.toBeInstanceOf(StorageError);
    expect(await store.exists('5.2')).toBe(false);
    expect(await allKeys(store)).not.toContain('5.2');
  });

  it('gives readers either the old or the new version while it is replaced, never a mix', async () => {
    const versions = [pattern(600_000, 10), pattern(600_000, 11)];
    await store.putBytes('6.1', versions[0]);
    const reads: Promise<Buffer>[] = [];
    const writes: Promise<void>[] = [];
    for (let i = 0; i < 6; i++) {
      writes.push(store.putBytes('6.1', versions[(i + 1) % 2]));
      reads.push(read(store, '6.1'));
    }
    await Promise.all(writes);
    for (const got of await Promise.all(reads))
      expect(got.equals(versions[0]) || got.equals(versions[1])).toBe(true);
  });

  it('refuses keys that could escape the store', async () => {
    for (const key of ['../x', '/etc/passwd', '', '.hidden', 'a/b']) {
      await expect(store.putFile(key, await src('x'))).rejects.toBeInstanceOf(StorageError);
      await expect(store.putBytes(key, Buffer.from('x'))).rejects.toBeInstanceOf(StorageError);
      expect(() => store.draft(key)).toThrow(StorageError);
    }
  });

  it('serves readers through the same port: whole, as a header, as a local file', async () => {
    const bytes = makeInstance({ sopInstanceUid: newUid() });
    const key = parseHeader(bytes).sopInstanceUid;
    await store.putBytes(key, bytes);
    expect((await readWhole(storedObject(store, key))).equals(bytes)).toBe(true);
    const { header, size } = await readStoredHeader(store, key);
    expect([header.sopInstanceUid, size]).toEqual([key, bytes.length]);
    let seen = '';
    expect(
      await withLocalFile(storedObject(store, key), async (path) => {
        seen = path;
        return (await readFile(path)).equals(bytes);
      }),
    ).toBe(true);
    // The file store lends its own file; another store a temporary copy, removed after use.
    if (store.localPath(key)) expect(seen).toBe(store.localPath(key));
    else await expect(readFile(seen)).rejects.toThrow(/ENOENT/);
    await expect(readWhole(storedObject(store, 'no.such.key'))).rejects.toBeInstanceOf(NotFoundError);
  });

  it('start-up check: after a crash, indexes stored objects without a row and removes rows without one; after a clean stop, lists nothing', async () => {
    const own = await adapters[name]();
    const index = openSqliteIndex(':memory:');
    const origin = { sourceType: 'scp' as const, sourceId: 1, sourceName: 'test' };
    try {
      const stored = async (indexed: boolean, kept: boolean) => {
        const bytes = makeInstance({ sopInstanceUid: newUid() });
        const header = parseHeader(bytes);
        if (kept) await own.putBytes(header.sopInstanceUid, bytes);
        if (indexed) await index.upsert({ header, origin, size: bytes.length });
        return header.sopInstanceUid;
      };
      const both = await stored(true, true);
      const objectOnly = await stored(false, true);
      const rowOnly = await stored(true, false);
      for (let i = 0; i < 4; i++) await stored(true, true); // more than one page of keys
      expect(await reconcile(index, own)).toEqual({ checked: true, reindexed: 1, removedRows: 1 });
      expect(await index.imageBySopInstanceUid(both)).toBeDefined();
      expect(await index.imageBySopInstanceUid(objectOnly)).toBeDefined();
      expect(await index.imageBySopInstanceUid(rowOnly)).toBeUndefined();

      await index.markConsistent();
      const listing = vi.spyOn(own, 'keys');
      expect(await reconcile(index, own)).toEqual({ checked: false, reindexed: 0, removedRows: 0 });
      expect(listing).not.toHaveBeenCalled();
    } finally {
      await index.close();
      await own.close();
    }
  });
});
