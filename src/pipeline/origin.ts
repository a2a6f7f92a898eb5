/**
 * Where an instance came from: Slicebox's source types and ids (they appear in `/api/sources`, series sources
 * and forwarding rules), with the name and detail shown in logs and quarantine records.
 */

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
