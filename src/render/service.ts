/**
 * What the API asks of rendering: PNGs and image information by image id, and series thumbnails cached on
 * disk. Finds the stored file through the index and the blob store, and hands the work to the pool.
 */
import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { NotFoundError } from '../errors.js';
import type { BlobStore } from '../storage/blob-store.js';
import { storedObject, withLocalFile } from '../storage/stored-object.js';
import type { Image, MetadataIndex } from '../storage/metadata-index.js';
import type { RenderPool } from './pool.js';
import type { ImageInformation, PngRequest, PngResult } from './render.js';

export interface RenderServiceOptions {
  index: MetadataIndex;
  blobs: BlobStore;
  pool: RenderPool;
  /** Where thumbnails are cached (one folder per series). */
  thumbnailDir: string;
  /** Longest side of a thumbnail in pixels. */
  thumbnailSize?: number;
}

export const THUMBNAIL_SIZE = 128;

export class RenderService {
  private readonly inFlight = new Map<string, Promise<Uint8Array>>();

  constructor(private readonly options: RenderServiceOptions) {}

  async png(imageId: number, request: Omit<PngRequest, 'path'>): Promise<PngResult> {
    return this.withFile(await this.imageOr404(imageId), (path) =>
      this.options.pool.png({ ...request, path }),
    );
  }

  async information(imageId: number): Promise<ImageInformation> {
    return this.withFile(await this.imageOr404(imageId), (path) => this.options.pool.information(path));
  }

  /**
   * The thumbnail of a series: its middle image (by InstanceNumber), middle frame, longest side 128 px.
   * Cached under the series id, named by the image id and the stored file's size and time, so a changed
   * series (another middle image) or a re-stored file renders anew; older thumbnails of the series go.
   */
  async thumbnail(seriesId: number): Promise<Uint8Array> {
    const { index } = this.options;
    if (!(await index.series(seriesId))) throw new NotFoundError(`series ${seriesId}`);
    const images = await index.list('images', {
      parentId: seriesId,
      startIndex: 0,
      count: Number.MAX_SAFE_INTEGER,
    });
    if (!images.length) throw new NotFoundError(`images of series ${seriesId}`);
    const image = middleImage(images);
    const stored = await this.options.blobs.stat(image.sopInstanceUID.value);
    if (!stored) throw new NotFoundError(`stored file of image ${image.id}`);
    const dir = join(this.options.thumbnailDir, String(seriesId));
    const name = `${image.id}-${stored.size}-${Math.floor(stored.modifiedMs)}.png`;
    const cached = await readFile(join(dir, name)).catch(() => undefined);
    if (cached) return cached;
    const key = `${seriesId}/${name}`;
    let rendering = this.inFlight.get(key);
    if (!rendering) {
      rendering = this.withFile(image, (path) => this.renderThumbnail(path, dir, name)).finally(() =>
        this.inFlight.delete(key),
      );
      this.inFlight.set(key, rendering);
    }
    return rendering;
  }

  private async renderThumbnail(path: string, dir: string, name: string): Promise<Uint8Array> {
    const { png } = await this.options.pool.png({
      path,
      frame: 'middle',
      box: this.options.thumbnailSize ?? THUMBNAIL_SIZE,
    });
    await mkdir(dir, { recursive: true });
    const temp = join(dir, `.${name}.${process.pid}.tmp`);
    await writeFile(temp, png);
    await rename(temp, join(dir, name));
    for (const old of await readdir(dir))
      if (old !== name && !old.startsWith('.')) await rm(join(dir, old), { force: true });
    return png;
  }

  private async imageOr404(id: number): Promise<Image> {
    const image = await this.options.index.image(id);
    if (!image) throw new NotFoundError(`image ${id}`);
    return image;
  }

  /** Runs `use` on the image's stored file: in place, or a local copy streamed from the blob store. */
  private withFile<T>(image: Image, use: (path: string) => Promise<T>): Promise<T> {
    return withLocalFile(storedObject(this.options.blobs, image.sopInstanceUID.value), use);
  }
}

/** The middle image by InstanceNumber (numerically; images without one sort last, ties by id). */
export function middleImage(images: Image[]): Image {
  const number = (i: Image) => {
    const n = Number.parseInt(i.instanceNumber.value, 10);
    return Number.isFinite(n) ? n : Number.POSITIVE_INFINITY;
  };
  const sorted = [...images].sort((a, b) => number(a) - number(b) || a.id - b.id);
  return sorted[Math.floor((sorted.length - 1) / 2)];
}
