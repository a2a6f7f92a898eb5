/**
 * Start-up check that index and files agree after a crash: a stored file without an index row was stored
 * (and maybe acknowledged) before the crash, so it is indexed now; an index row without a file is removed.
 */
import type { BlobStore } from './blob-store.js';
import type { MetadataIndex } from './metadata-index.js';
import { readHeader } from './read-header.js';
import { stat } from 'node:fs/promises';

export async function reconcile(
  index: MetadataIndex,
  blobs: BlobStore,
): Promise<{ reindexed: number; removedRows: number }> {
  let reindexed = 0;
  const seen = new Set<string>();
  for await (const key of blobs.keys()) {
    seen.add(key);
    if (index.imageBySopInstanceUid(key)) continue;
    const path = blobs.localPath(key);
    if (!path) continue;
    try {
      const [header, { size }] = await Promise.all([readHeader(path), stat(path)]);
      index.upsert({
        header,
        size,
        origin: { sourceType: 'unknown', sourceId: -1, sourceName: 'recovered at start' },
      });
      reindexed++;
    } catch (err) {
      console.warn(`start-up check: stored file ${key} is unreadable: ${(err as Error).message}`);
    }
  }
  const orphans: number[] = [];
  for (const id of index.allImageIds()) {
    const image = index.image(id);
    if (image && !seen.has(image.sopInstanceUID.value)) orphans.push(id);
  }
  if (orphans.length) index.deleteImages(orphans);
  return { reindexed, removedRows: orphans.length };
}
