/**
 * Filling the Query/Retrieve columns (sqlite-index-tables.ts, `migrateQueryColumns`) of images indexed
 * before they existed: each stored file's header is read again and indexed with its series' source, a
 * batch at a time, in the background after start, until none is left. C-FIND and QIDO-RS answer meanwhile,
 * with those attributes empty for the images not yet reached.
 */
import type { BlobStore } from './blob-store.js';
import type { MetadataIndex } from './metadata-index.js';
import { readStoredHeader } from './stored-object.js';

const BATCH = 200;

/** Resolves with the number of images gone through; stops early when `stopped()` says so. */
export async function backfillQueryColumns(
  index: MetadataIndex,
  blobs: BlobStore,
  stopped: () => boolean = () => false,
): Promise<number> {
  let done = 0;
  while (!stopped()) {
    const images = await index.imagesWithoutQueryColumns(BATCH);
    if (!images.length) break;
    for (const image of images) {
      try {
        const { header, size } = await readStoredHeader(blobs, image.sopInstanceUID.value);
        if (stopped()) return done;
        const source = await index.seriesSourceWithName?.(image.seriesId);
        await index.upsert({
          header,
          size,
          origin: source ?? { sourceType: 'unknown', sourceId: -1, sourceName: 'indexed again' },
        });
      } catch {
        // An unreadable or missing file keeps its columns empty; the start-up check deals with it.
      }
    }
    await index.queryColumnsFilled(images.map((i) => i.id));
    done += images.length;
  }
  return done;
}
