/**
 * The tag filters part of the state store: filters, their tag paths and their associations with sources.
 * Adapters: sqlite-store.ts, postgres-store.ts.
 */
import type { SourceRef, SourceType } from '../pipeline/origin.js';

/** Slicebox's `TagFilter`. */
export interface TagFilter {
  id: number;
  name: string;
  tagFilterType: 'WHITELIST' | 'BLACKLIST';
}

/** A filter's tag tree in the string form `(0008,1140)[*].(0008,1150)` (the API answers it as JSON). */
export interface TagFilterTagPathRow {
  id: number;
  tagFilterId: number;
  tagPath: string;
}

/** Slicebox's `SourceTagFilter`; `tagFilterName` is the filter's current name. */
export interface SourceTagFilter {
  id: number;
  sourceType: SourceType;
  sourceName: string;
  sourceId: number;
  tagFilterId: number;
  tagFilterName: string;
}

export interface TagFilterStore {
  listTagFilters(startIndex: number, count: number): Promise<TagFilter[]>;
  tagFilter(id: number): Promise<TagFilter | undefined>;
  insertTagFilter(filter: Omit<TagFilter, 'id'>): Promise<TagFilter>;
  /** Deletes the filter with its tag paths and associations; false when unknown. */
  deleteTagFilter(id: number): Promise<boolean>;
  listTagFilterTagPaths(
    tagFilterId: number,
    startIndex: number,
    count: number,
  ): Promise<TagFilterTagPathRow[]>;
  insertTagFilterTagPath(tagFilterId: number, tagPath: string): Promise<TagFilterTagPathRow>;
  deleteTagFilterTagPath(tagFilterId: number, id: number): Promise<boolean>;
  listSourceTagFilters(startIndex: number, count: number): Promise<SourceTagFilter[]>;
  /** Inserts an association, or answers the existing one for the same source and filter. */
  insertSourceTagFilter(association: Omit<SourceTagFilter, 'id' | 'tagFilterName'>): Promise<SourceTagFilter>;
  deleteSourceTagFilter(id: number): Promise<boolean>;
  /** Removes the associations of a deleted source; answers how many. */
  deleteSourceTagFiltersOf(source: SourceRef): Promise<number>;
  /** Every associated filter with its tag paths, per source (what the tag_filter operator caches). */
  associatedTagFilters(): Promise<Array<{ source: SourceRef; filter: TagFilter; tagPaths: string[] }>>;
}
