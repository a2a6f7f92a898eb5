/**
 * Stored Part-10 files as a send needs them: their SOP class, instance and transfer syntax from the file
 * meta alone, their dataset streamed as it is stored (from the local file in large reads, or through the
 * blob store's `open`), the transfer syntaxes to propose for them, and the fallback encodings for a peer
 * that refuses the stored one.
 */
import { createReadStream } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { InvalidDicomError, SluiceError } from '../../errors.js';
import { explicitToImplicitLittleEndian } from '../../dicom/implicit-vr.js';
import { datasetOffset, metaStrings, PART10_HEAD_LENGTH, splitPart10 } from '../../dicom/part10.js';
import { TransferSyntax } from '../../dicom/transfer-syntax.js';
import { needsDecompression } from '../../render/transcode.js';
import type { DatasetChunks } from './association.js';
import {
  fileObject,
  readWhole,
  splitHead,
  withLocalFile,
  type StoredObject,
} from '../../storage/stored-object.js';

export interface StoredFile {
  /** Where the bytes are: a blob store's object, or a file. */
  object: StoredObject;
  sopClassUid: string;
  sopInstanceUid: string;
  transferSyntaxUid: string;
}

/**
 * What a send needs to know about a stored Part-10 file, from its file meta information (group 0002, always
 * explicit VR little endian): SOP class, SOP instance and transfer syntax, without reading the dataset.
 */
export async function readStoredFile(from: StoredObject | string): Promise<StoredFile> {
  const object = typeof from === 'string' ? fileObject(from) : from;
  const values = metaStrings(await readMeta(object));
  const [sopClassUid, sopInstanceUid, transferSyntaxUid] = [2, 3, 0x10].map((e) => values.get(e) ?? '');
  if (!sopClassUid || !sopInstanceUid || !transferSyntaxUid)
    throw new SluiceError(
      'DICOM.INVALID',
      `${object.name}: file meta information lacks SOP class, instance or transfer syntax`,
      500,
    );
  return { object, sopClassUid, sopInstanceUid, transferSyntaxUid };
}

/** The preamble and file meta information of a stored object (everything before its dataset). */
async function readMeta(object: StoredObject): Promise<Buffer> {
  if (object.path) {
    const handle = await open(object.path, 'r');
    try {
      const head = Buffer.alloc(await readDatasetOffset(handle, object.name));
      const { bytesRead } = await handle.read(head, 0, head.length, 0);
      return head.subarray(0, bytesRead);
    } finally {
      await handle.close();
    }
  }
  const { stream } = await object.open();
  try {
    return (await streamedMeta(stream as AsyncIterable<Buffer>, object.name)).meta;
  } finally {
    stream.destroy();
  }
}

/** Reads the file meta information off the front of a stream; the rest is the dataset. */
async function streamedMeta(stream: AsyncIterable<Buffer>, name: string) {
  const first = await splitHead(stream, PART10_HEAD_LENGTH);
  const offset = checkedOffset(first.head, name);
  const more = await splitHead(first.rest, Math.max(0, offset - first.head.length));
  return { meta: Buffer.concat([first.head, more.head]), offset, rest: more.rest };
}

async function readDatasetOffset(handle: FileHandle, name: string): Promise<number> {
  const head = Buffer.alloc(PART10_HEAD_LENGTH);
  const { bytesRead } = await handle.read(head, 0, PART10_HEAD_LENGTH, 0);
  return checkedOffset(head.subarray(0, bytesRead), name);
}

/** A stored file that is not Part-10 is our fault, not the peer's: 500. */
function checkedOffset(head: Buffer, name: string): number {
  try {
    return datasetOffset(head);
  } catch (err) {
    if (!(err instanceof InvalidDicomError)) throw err;
    throw new SluiceError('DICOM.INVALID', `${name} is not a readable Part-10 file: ${err.message}`, 500);
  }
}

/**
 * The dataset of a stored file, exactly as it is stored, in large reads: a read and a copy per 16 KiB PDV
 * (DCMTK's default) had cost ~1.6 ms of CPU per 512 KiB instance. Without a local file, the object is
 * streamed through the blob store and its file meta skipped.
 */
export async function storedDataset(object: StoredObject): Promise<DatasetChunks> {
  const path = object.path;
  if (!path) {
    const { stream, size } = await object.open();
    try {
      const { offset, rest } = await streamedMeta(stream as AsyncIterable<Buffer>, object.name);
      return { length: size - offset, chunks: rest };
    } catch (err) {
      stream.destroy();
      throw err;
    }
  }
  const handle = await open(path, 'r');
  let start: number;
  let size: number;
  try {
    start = await readDatasetOffset(handle, object.name);
    ({ size } = await handle.stat());
  } finally {
    await handle.close();
  }
  return { length: size - start, chunks: createReadStream(path, { start, highWaterMark: 1024 * 1024 }) };
}

/** A stored compressed or deflated file as a Part-10 file in an uncompressed syntax (src/render/transcode.ts). */
export type Decompress = (path: string, transferSyntaxUid: string) => Promise<Buffer>;

/** The dataset of `f` (without file meta) in the fallback syntax `ts`. */
export async function reencode(f: StoredFile, ts: string, decompress: Decompress): Promise<Buffer> {
  const bytes = needsDecompression(f.transferSyntaxUid)
    ? await withLocalFile(f.object, (path) => decompress(path, ts))
    : await readWhole(f.object);
  if (needsDecompression(f.transferSyntaxUid)) return splitPart10(bytes, ts).dataset;
  return explicitToImplicitLittleEndian(splitPart10(bytes, f.transferSyntaxUid).dataset);
}

/**
 * The transfer syntaxes to propose for a file, each in its own presentation context so that the peer's
 * choice is ours: the stored one first, then the fallbacks in order of preference. Explicit VR little endian
 * falls back to implicit (re-encoded in memory); compressed and deflated syntaxes to explicit, then implicit
 * VR little endian (decompressed); implicit VR little endian, which every peer accepts, and big endian have
 * none.
 */
export function syntaxesToPropose(transferSyntaxUid: string): string[] {
  if (transferSyntaxUid === TransferSyntax.ExplicitVRLittleEndian)
    return [transferSyntaxUid, TransferSyntax.ImplicitVRLittleEndian];
  if (needsDecompression(transferSyntaxUid))
    return [transferSyntaxUid, TransferSyntax.ExplicitVRLittleEndian, TransferSyntax.ImplicitVRLittleEndian];
  return [transferSyntaxUid];
}

/** Presentation context keys (`SOP class|transfer syntax`) a file needs; files share them. */
export const contextKeys = (f: Pick<StoredFile, 'sopClassUid' | 'transferSyntaxUid'>): string[] =>
  syntaxesToPropose(f.transferSyntaxUid).map((ts) => `${f.sopClassUid}|${ts}`);

/** Presentation contexts one association can hold (ids 1, 3 … 255). */
export const MAX_CONTEXTS = 128;

/** Files in order, cut into runs whose presentation contexts (`contextKeys`) fit in one association. */
export function associationGroups(files: StoredFile[]): StoredFile[][] {
  const groups: StoredFile[][] = [];
  let keys = new Set<string>();
  for (const file of files) {
    const missing = contextKeys(file).filter((key) => !keys.has(key));
    if (!groups.length || keys.size + missing.length > MAX_CONTEXTS) {
      groups.push([]);
      keys = new Set();
    }
    for (const key of missing) keys.add(key);
    groups[groups.length - 1].push(file);
  }
  return groups;
}
