/**
 * Start-up check that index and files agree. After a clean stop (the engine marked the index consistent:
 * nothing was in flight) there is nothing to check; a lost or replaced index has no mark. After a crash, the names of the stored files are compared with the
 * index in one pass each (no file is opened unless it has no index row): a stored file without a row was
 * stored, and maybe acknowledged, before the crash, so it is indexed now; a row without a file is removed.
 */
import { stat } from 'node:fs/promises';
import type { BlobStore } from './blob-store.js';
import type { MetadataIndex } from './metadata-index.js';
import { readHeader } from './read-header.js';
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
    const path = blobs.localPath(key);
    if (!path) continue;
    try {
      const [header, { size }] = await Promise.all([readHeader(path), stat(path)]);
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
