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
  /** Current location of the Part-10 file. */
  readonly path: string;
  readonly size: number;
  /** Header attributes (everything before the pixel data), parsed once at ingress. */
  readonly header: DicomHeader;
  /**
   * The file's bytes when the source still held them at ingest (the SCP keeps small datasets in memory),
   * so an operator that needs them does not read the file back. Must equal the file at `path`.
   */
  readonly content?: Buffer;
  /** Facts added by operators and sinks (series types, storage key, image id, …). */
  readonly tags: Readonly<Record<string, unknown>>;
}

/** Tag listing files written for an envelope in place of its landed file; removed when it is settled. */
export const TEMP_FILES_TAG = 'tempFiles';

/** The temp files an envelope carries (see TEMP_FILES_TAG). */
export function tempFilesOf(envelope: Envelope): string[] {
  const files = envelope.tags[TEMP_FILES_TAG];
  return Array.isArray(files) ? files.filter((f): f is string => typeof f === 'string') : [];
}

export function withTags(envelope: Envelope, tags: Record<string, unknown>): Envelope {
  return { ...envelope, tags: { ...envelope.tags, ...tags } };
}

/** The envelope with its file elsewhere; bytes held for the old file no longer apply. */
export function withPath(envelope: Envelope, path: string): Envelope {
  return { ...envelope, path, content: undefined };
}
