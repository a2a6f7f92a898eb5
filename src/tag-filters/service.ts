/**
 * Managed tag filters: the `/api/filtering` routes change them through this service, and the `tag_filter`
 * operator asks it, per envelope, for the filters of the envelope's source. That question is answered from
 * a cache built with one query and dropped on every change, so changes apply to the next envelope and the
 * hot path never queries the database.
 */
import type { CompiledTagFilter } from '../dicom/filter.js';
import type { SourceRef } from '../pipeline/origin.js';
import { NotFoundError } from '../errors.js';
import type { SourceTagFilter, TagFilter, TagFilterStore, TagFilterTagPathRow } from './store.js';
import {
  formatTagTree,
  parseTagTree,
  tagTreeToJson,
  type TagTree,
  type TagTreeJson,
} from '../dicom/tag-path.js';

/** Slicebox's `TagFilterTagPath`, with the tree in its JSON form. */
export interface TagFilterTagPath {
  id: number;
  tagFilterId: number;
  tagPath: TagTreeJson;
}

const key = (source: SourceRef) => `${source.sourceType}:${source.sourceId}`;
const NONE: readonly CompiledTagFilter[] = [];

export class TagFilterService {
  private bySource: Map<string, CompiledTagFilter[]> | undefined;

  constructor(private readonly store: TagFilterStore) {}

  /** The filters associated with a source; empty when it has none. Cached until the next change. */
  filtersFor(source: SourceRef): readonly CompiledTagFilter[] {
    if (!this.bySource) {
      const map = new Map<string, CompiledTagFilter[]>();
      for (const { source: s, filter, tagPaths } of this.store.associatedTagFilters()) {
        const list = map.get(key(s)) ?? [];
        list.push({ name: filter.name, type: filter.tagFilterType, trees: tagPaths.map(parseTagTree) });
        map.set(key(s), list);
      }
      this.bySource = map;
    }
    return this.bySource.get(key(source)) ?? NONE;
  }

  private changed<T>(result: T): T {
    this.bySource = undefined;
    return result;
  }

  listFilters(startIndex: number, count: number): TagFilter[] {
    return this.store.listTagFilters(startIndex, count);
  }

  createFilter(filter: Omit<TagFilter, 'id'>): TagFilter {
    return this.changed(this.store.insertTagFilter(filter));
  }

  /** Idempotent; takes the filter's tag paths and associations with it. */
  deleteFilter(id: number): void {
    this.changed(this.store.deleteTagFilter(id));
  }

  private filter(id: number): TagFilter {
    const filter = this.store.tagFilter(id);
    if (!filter) throw new NotFoundError(`Tag filter ${id}`);
    return filter;
  }

  listTagPaths(tagFilterId: number, startIndex: number, count: number): TagFilterTagPath[] {
    this.filter(tagFilterId);
    return this.store.listTagFilterTagPaths(tagFilterId, startIndex, count).map(toJson);
  }

  addTagPath(tagFilterId: number, tree: TagTree): TagFilterTagPath {
    this.filter(tagFilterId);
    return this.changed(toJson(this.store.insertTagFilterTagPath(tagFilterId, formatTagTree(tree))));
  }

  /** Idempotent for a known filter. */
  deleteTagPath(tagFilterId: number, id: number): void {
    this.filter(tagFilterId);
    this.changed(this.store.deleteTagFilterTagPath(tagFilterId, id));
  }

  listAssociations(startIndex: number, count: number): SourceTagFilter[] {
    return this.store.listSourceTagFilters(startIndex, count);
  }

  createAssociation(association: Omit<SourceTagFilter, 'id' | 'tagFilterName'>): SourceTagFilter {
    this.filter(association.tagFilterId);
    return this.changed(this.store.insertSourceTagFilter(association));
  }

  deleteAssociation(id: number): void {
    this.changed(this.store.deleteSourceTagFilter(id));
  }

  /** A source was deleted: its associations go with it (Slicebox's `SourceDeleted`). */
  forgetSource(source: SourceRef): void {
    this.changed(this.store.deleteSourceTagFiltersOf(source));
  }
}

function toJson(row: TagFilterTagPathRow): TagFilterTagPath {
  return { id: row.id, tagFilterId: row.tagFilterId, tagPath: tagTreeToJson(parseTagTree(row.tagPath)) };
}
