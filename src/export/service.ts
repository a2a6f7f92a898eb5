/**
 * Export sets: `POST /api/images/export` remembers a list of images under an id, `GET /api/images/export?id=`
 * streams them as a zip. Sets live in the state store, so a download link survives a restart, and expire
 * after `SLUICE_EXPORT_SET_TTL_SECS` (Slicebox kept them in memory for 6 hours).
 */
import type { ExportSetStore } from './store.js';

export interface ExportSetOptions {
  ttlSecs: number;
  now?: () => number;
}

export class ExportSetService {
  readonly ttlSecs: number;
  private readonly now: () => number;

  constructor(
    private readonly store: ExportSetStore,
    options: ExportSetOptions,
  ) {
    this.ttlSecs = options.ttlSecs;
    this.now = options.now ?? Date.now;
  }

  /** Stores the ids (duplicates removed, order kept) and answers the set's id; expired sets go first. */
  async create(imageIds: readonly number[]): Promise<number> {
    const now = this.now();
    await this.store.deleteExportSetsCreatedBefore(this.expiredBefore(now));
    return (await this.store.insertExportSet([...new Set(imageIds)], now)).id;
  }

  /** The set's image ids, or undefined when it is unknown or expired. */
  async imageIds(id: number): Promise<number[] | undefined> {
    const set = await this.store.exportSet(id);
    if (!set || set.createdAt < this.expiredBefore(this.now())) return undefined;
    return set.imageIds;
  }

  private expiredBefore(now: number): number {
    return now - this.ttlSecs * 1000;
  }
}
