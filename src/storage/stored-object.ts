/**
 * Reading stored objects whatever the blob store: through the local file when the store has one (the file
 * store's shortcut: read in place, in ranges), else through the port's `open` (an object store streams it).
 * Renderers, parsers, anonymization, the SCU, Q/R and DICOMweb read stored instances only through these.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { BlobStore } from './blob-store.js';
import { parseHeader, type DicomHeader } from '../dicom/header.js';
import { InvalidDicomError, NotFoundError } from '../errors.js';

/** Largest object read whole to parse it (as read-header.ts); a bigger one is refused. */
const MAX_WHOLE = 256 * 1024 * 1024;

/** A stored object to read: a blob store's key, or a file outside any store (tests, tools). */
export interface StoredObject {
  /** For messages: the key, or the file's path. */
  readonly name: string;
  /** The local file, when there is one. */
  readonly path?: string;
  /** Streams the bytes; NotFoundError when absent. */
  open(): Promise<{ stream: Readable; size: number }>;
}

/** The object stored under `key`. */
export function storedObject(blobs: BlobStore, key: string): StoredObject {
  return { name: key, path: blobs.localPath(key), open: () => blobs.open(key) };
}

/** A Part-10 file on disk, outside the store. */
export function fileObject(path: string): StoredObject {
  return {
    name: path,
    path,
    async open() {
      const { size } = await stat(path).catch((err: NodeJS.ErrnoException) => {
        throw err.code === 'ENOENT' ? new NotFoundError(`file ${path}`) : err;
      });
      return { stream: createReadStream(path, { highWaterMark: 1024 * 1024 }), size };
    },
  };
}

/** The whole object in memory (what parsers and re-encoders need); NotFoundError when absent. */
export async function readWhole(object: StoredObject): Promise<Buffer> {
  if (object.path)
    return readFile(object.path).catch((err: NodeJS.ErrnoException) => {
      throw err.code === 'ENOENT' ? new NotFoundError(`stored file ${object.name}`) : err;
    });
  const { stream, size } = await object.open();
  if (size > MAX_WHOLE) {
    stream.destroy();
    throw new InvalidDicomError(`file is larger than ${MAX_WHOLE} bytes`);
  }
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** The stored bytes of `key`. */
export const readStored = (blobs: BlobStore, key: string): Promise<Buffer> =>
  readWhole(storedObject(blobs, key));

/** The parsed header and size of the object stored under `key`. */
export async function readStoredHeader(
  blobs: BlobStore,
  key: string,
): Promise<{ header: DicomHeader; size: number }> {
  const bytes = await readStored(blobs, key);
  return { header: parseHeader(bytes), size: bytes.length };
}

/**
 * Runs `use` with a local file holding the object (for the render workers, which read files): the store's
 * own file, or a temporary copy streamed through `open` to disk (never whole in memory) and removed after.
 */
export async function withLocalFile<T>(object: StoredObject, use: (path: string) => Promise<T>): Promise<T> {
  if (object.path) {
    await stat(object.path).catch((err: NodeJS.ErrnoException) => {
      throw err.code === 'ENOENT' ? new NotFoundError(`stored file ${object.name}`) : err;
    });
    return use(object.path);
  }
  const { stream } = await object.open();
  const dir = await mkdtemp(join(tmpdir(), 'sluice-blob-'));
  try {
    const file = join(dir, 'object.dcm');
    await pipeline(stream, createWriteStream(file));
    return await use(file);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * The first `length` bytes of a stream of chunks (fewer when it is shorter), and the chunks that follow
 * (the first one cut where the head ended).
 */
export async function splitHead(
  source: AsyncIterable<Buffer>,
  length: number,
): Promise<{ head: Buffer; rest: AsyncIterable<Buffer> }> {
  const iterator = source[Symbol.asyncIterator]();
  const parts: Buffer[] = [];
  let have = 0;
  let leftover: Buffer | undefined;
  while (have < length) {
    const next = await iterator.next();
    if (next.done) break;
    const chunk = next.value;
    const need = length - have;
    if (chunk.length > need) {
      parts.push(chunk.subarray(0, need));
      leftover = chunk.subarray(need);
      have = length;
    } else {
      parts.push(chunk);
      have += chunk.length;
    }
  }
  async function* rest(): AsyncGenerator<Buffer> {
    if (leftover?.length) yield leftover;
    for (;;) {
      const next = await iterator.next();
      if (next.done) return;
      yield next.value;
    }
  }
  return { head: Buffer.concat(parts), rest: rest() };
}
