import { mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeInstance, newUid } from '../../test/fixtures/dicom-fixtures.js';
import { parseHeader } from '../dicom/header.js';
import { openFsBlobStore } from './fs-blob-store.js';
import { openSqliteIndex } from './sqlite-index.js';
import { reconcile } from './reconcile.js';
import type { BlobStore } from './blob-store.js';
import type { MetadataIndex } from './metadata-index.js';

let dir: string;
let index: MetadataIndex;
let blobs: BlobStore;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-reconcile-'));
  index = openSqliteIndex(join(dir, 'index.sqlite'));
  blobs = await openFsBlobStore(join(dir, 'storage'));
});
afterEach(async () => {
  await index.close();
  await rm(dir, { recursive: true, force: true });
});

const origin = { sourceType: 'scp' as const, sourceId: 1, sourceName: 'test' };
async function store(indexed: boolean, file: boolean): Promise<string> {
  const bytes = makeInstance({ sopInstanceUid: newUid() });
  const header = parseHeader(bytes);
  if (file) await writeFile(blobs.localPath(header.sopInstanceUid)!, bytes);
  if (indexed) await index.upsert({ header, origin, size: bytes.length });
  return header.sopInstanceUid;
}

describe('the start-up check', () => {
  it('after a crash, indexes stored files without a row and removes rows without a file', async () => {
    const both = await store(true, true);
    const fileOnly = await store(false, true);
    const rowOnly = await store(true, false);
    expect(await reconcile(index, blobs)).toEqual({ checked: true, reindexed: 1, removedRows: 1 });
    expect(await index.imageBySopInstanceUid(both)).toBeDefined();
    expect(await index.imageBySopInstanceUid(fileOnly)).toBeDefined();
    expect(await index.imageBySopInstanceUid(rowOnly)).toBeUndefined();
  });

  it('after a clean stop, checks nothing once, and the next start checks again', async () => {
    const sop = await store(true, true);
    await index.markConsistent();
    await unlink(blobs.localPath(sop)!);
    expect(await reconcile(index, blobs)).toEqual({ checked: false, reindexed: 0, removedRows: 0 });
    expect(await reconcile(index, blobs)).toEqual({ checked: true, reindexed: 0, removedRows: 1 });
  });
});
