import { readFile } from 'node:fs/promises';
import type { DicomHeader } from './dicom.js';

/** Source types as Slicebox names them; they appear in `/api/sources` and series sources. */
/**
 * Source ids up to this are for sources declared in pipeline files; SCPs and watched directories created
 * through the API are numbered above it, so `{sourceType, sourceId}` never names two sources.
 */
export const STATIC_SOURCE_ID_MAX = 100;

export const SOURCE_TYPES = ['scp', 'directory', 'import', 'user', 'box', 'unknown'] as const;
export type SourceType = (typeof SOURCE_TYPES)[number];

export interface SourceRef {
  sourceType: SourceType;
  sourceId: number;
}

export interface Origin extends SourceRef {
  /** Human readable name of the source (SCP name, watched folder name, user name…). */
  sourceName: string;
  /** Calling AE title, remote address or original file name: for logs and quarantine records. */
  detail?: string;
}

/**
 * One DICOM instance travelling through a pipeline. Immutable: operators return a new envelope.
 * The Part-10 file at `path` is already durable (in the landing directory) when the envelope is emitted.
 */
export interface Envelope {
  readonly id: string;
  readonly origin: Origin;
  /**
   * The landed Part-10 file: the instance as received, unless an operator rewrote it (`rewritten`), in which
   * case the instance is `content` and this file is only what it was made from.
   */
  readonly path: string;
  readonly size: number;
  /** Header attributes (everything before the pixel data), parsed once at ingress. */
  readonly header: DicomHeader;
  /**
   * The instance's bytes in memory: the landed file's when the source still held them at ingest (the SCP
   * keeps small datasets in memory), so an operator that needs them does not read the file back; or the
   * instance an operator rewrote (`rewritten`).
   */
  readonly content?: Buffer;
  /**
   * An operator rewrote the instance (filtered, anonymized…): `content` holds it and it is on disk nowhere
   * yet. The storage sink writes it once, in place, instead of a scratch copy plus a link (a new 512 KiB
   * file costs ~1 ms here). Until settled, the landed file at `path` is what a crash would process again.
   */
  readonly rewritten?: boolean;
  /** Facts added by operators and sinks (series types, storage key, image id, …). */
  readonly tags: Readonly<Record<string, unknown>>;
}

/** The instance's bytes: held in memory, else read from the landed file. */
export function bytesOf(envelope: Envelope): Promise<Buffer> {
  return envelope.content ? Promise.resolve(envelope.content) : readFile(envelope.path);
}

/** The envelope with the instance rewritten in memory (see `rewritten`). */
export function withContent(envelope: Envelope, bytes: Buffer, header: DicomHeader): Envelope {
  return { ...envelope, content: bytes, size: bytes.length, header, rewritten: true };
}

export function withTags(envelope: Envelope, tags: Record<string, unknown>): Envelope {
  return { ...envelope, tags: { ...envelope.tags, ...tags } };
}
