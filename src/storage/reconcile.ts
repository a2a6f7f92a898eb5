/**
 * Start-up check that index and files agree. After a clean stop (the engine marked the index consistent:
 * nothing was in flight) there is nothing to check, and nothing is listed (an object store may hold
 * millions of keys); a lost or replaced index has no mark. After a crash, the keys of the stored files (file
 * names, or object keys listed page by page) are compared with the index in one pass each (no file is read
 * unless it has no index row): a stored file without a row was stored, and maybe acknowledged, before the
 * crash, so it is indexed now; a row without a file is removed.
 */
import type { BlobStore } from './blob-store.js';
import type { MetadataIndex } from './metadata-index.js';
import { readStoredHeader } from './stored-object.js';
import { logger } from '../ops/logger.js';

const log = logger('reconcile');

export async function reconcile(
  index: MetadataIndex,
  blobs: BlobStore,
): Promise<{ checked: boolean; reindexed: number; removedRows: number }> {
  if (await index.takeConsistent()) return { checked: false, reindexed: 0, removedRows: 0 };
  let reindexed = 0;
  const indexed = await index.imageKeys();
  const seen = new Set<string>();
  for await (const key of blobs.keys()) {
    seen.add(key);
    if (indexed.has(key)) continue;
    try {
      const { header, size } = await readStoredHeader(blobs, key);
      await index.upsert({
        header,
        size,
        origin: { sourceType: 'unknown', sourceId: -1, sourceName: 'recovered at start' },
      });
      reindexed++;
    } catch (err) {
      log.warn({ key, err }, 'start-up check: stored file is unreadable');
    }
  }
  const orphans = [...indexed].filter(([sop]) => !seen.has(sop)).map(([, id]) => id);
  if (orphans.length) await index.deleteImages(orphans);
  return { checked: true, reindexed, removedRows: orphans.length };
}
