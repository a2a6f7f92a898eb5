/**
 * The export sets part of the state store. Adapters: sqlite-store.ts, postgres-store.ts.
 */

/** Images chosen for one zip download (`POST /api/images/export`), kept until they expire. */
export interface ExportSet {
  id: number;
  imageIds: number[];
  /** ms epoch */
  createdAt: number;
}

export interface ExportSetStore {
  insertExportSet(imageIds: readonly number[], createdAt: number): Promise<ExportSet>;
  exportSet(id: number): Promise<ExportSet | undefined>;
  /** Deletes sets created before `before` (ms epoch); answers how many. */
  deleteExportSetsCreatedBefore(before: number): Promise<number>;
}
