/**
 * Deleting stored images: the one place an image leaves the store, whoever asks (`DELETE /api/images`, an
 * image modified or anonymized in place under a new SOP Instance UID, forwarding with keepImages=false).
 */
import type { BlobStore } from './blob-store.js';
import type { Image, MetadataIndex } from './metadata-index.js';

/**
 * Deletes the images that exist among `ids` and answers them. Files first: a crash in between leaves an
 * index row without a file, which the start-up check removes (the other order would bring a deleted image
 * back when its file is re-indexed).
 */
export async function deleteStoredImages(
  index: MetadataIndex,
  blobs: BlobStore,
  ids: readonly number[],
): Promise<Image[]> {
  const images = (await Promise.all(ids.map((id) => index.image(id)))).filter(
    (i): i is Image => i !== undefined,
  );
  for (const image of images) await blobs.delete(image.sopInstanceUID.value);
  await index.deleteImages(images.map((i) => i.id));
  return images;
}
