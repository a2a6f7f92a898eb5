/**
 * The blob store the engine helpers give an engine: the data directory's files, or, in the S3 test project
 * (TEST_BLOBS=s3, see vitest.config.ts), the suite's MinIO bucket under a prefix named after the data
 * directory (so that an engine started again on the same directory finds its objects).
 */
import { basename } from 'node:path';
import type { S3Location } from '../../src/config.js';
import type { BlobStore } from '../../src/storage/blob-store.js';
import { openFsBlobStore } from '../../src/storage/fs-blob-store.js';
import { openS3BlobStore } from '../../src/storage/s3-blob-store.js';

/** Whether this test file runs in the S3 project. */
export const onS3 = (): boolean => process.env.TEST_BLOBS === 's3';

/** The S3 location for an engine on `dataDir`, in the S3 project; else undefined (files). */
export function testS3Location(dataDir: string): S3Location | undefined {
  if (!onS3()) return undefined;
  const bucket = process.env.TEST_S3_BUCKET;
  if (!bucket) throw new Error('TEST_BLOBS=s3 without TEST_S3_BUCKET: run the S3 project (test/s3-env.ts)');
  return { bucket, prefix: `${basename(dataDir)}/` };
}

/** `SLUICE_BLOBS` for an engine process on `dataDir`, in the S3 project. */
export function testBlobsVariable(dataDir: string): Record<string, string> {
  const location = testS3Location(dataDir);
  return location ? { SLUICE_BLOBS: `s3://${location.bucket}/${location.prefix}` } : {};
}

/** A blob store for app tests: `<dir>/storage`, or S3 in the S3 project. */
export async function openTestBlobStore(dir: string): Promise<BlobStore> {
  const location = testS3Location(dir);
  return location ? openS3BlobStore({ location }) : openFsBlobStore(`${dir}/storage`);
}

/** The keys stored by the engine on `dataDir` (its files, or its objects in the S3 project). */
export async function storedKeys(dataDir: string): Promise<string[]> {
  const location = testS3Location(dataDir);
  const store = location ? await openS3BlobStore({ location }) : await openFsBlobStore(`${dataDir}/storage`);
  const keys: string[] = [];
  try {
    for await (const key of store.keys()) keys.push(key);
  } finally {
    await store.close();
  }
  return keys;
}
