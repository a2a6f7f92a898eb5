/**
 * Managed tag filters: the `/api/filtering` routes change them through this service, and the `tag_filter`
 * operator asks it, per envelope, for the filters of the envelope's source. That question is answered from
 * a cache built with one query and dropped on every change, so changes apply to the next envelope and the
 * hot path never queries the database. The cache holds the query's promise from the moment it is asked, so
 * a change that lands while it is answered drops it instead of being overwritten by its older answer.
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
  private bySource: Promise<Map<string, CompiledTagFilter[]>> | undefined;

  constructor(private readonly store: TagFilterStore) {}

  /** Drops the cached filters: another process may have changed them (processes sharing the state store). */
  refresh(): void {
    this.bySource = undefined;
  }

  /** The filters associated with a source; empty when it has none. Cached until the next change. */
  async filtersFor(source: SourceRef): Promise<readonly CompiledTagFilter[]> {
    if (!this.bySource) {
      const loading = this.load();
      this.bySource = loading;
      // A failed load is not kept: the next envelope asks again.
      loading.catch(() => {
        if (this.bySource === loading) this.bySource = undefined;
      });
    }
    return (await this.bySource).get(key(source)) ?? NONE;
  }

  private async load(): Promise<Map<string, CompiledTagFilter[]>> {
    const map = new Map<string, CompiledTagFilter[]>();
    for (const { source: s, filter, tagPaths } of await this.store.associatedTagFilters()) {
      const list = map.get(key(s)) ?? [];
      list.push({ name: filter.name, type: filter.tagFilterType, trees: tagPaths.map(parseTagTree) });
      map.set(key(s), list);
    }
    return map;
  }

  private changed<T>(result: T): T {
    this.bySource = undefined;
    return result;
  }

  async listFilters(startIndex: number, count: number): Promise<TagFilter[]> {
    return await this.store.listTagFilters(startIndex, count);
  }

  async createFilter(filter: Omit<TagFilter, 'id'>): Promise<TagFilter> {
    return this.changed(await this.store.insertTagFilter(filter));
  }

  /** Idempotent; takes the filter's tag paths and associations with it. */
  async deleteFilter(id: number): Promise<void> {
    this.changed(await this.store.deleteTagFilter(id));
  }

  private async filter(id: number): Promise<TagFilter> {
    const filter = await this.store.tagFilter(id);
    if (!filter) throw new NotFoundError(`Tag filter ${id}`);
    return filter;
  }

  async listTagPaths(tagFilterId: number, startIndex: number, count: number): Promise<TagFilterTagPath[]> {
    await this.filter(tagFilterId);
    return (await this.store.listTagFilterTagPaths(tagFilterId, startIndex, count)).map(toJson);
  }

  async addTagPath(tagFilterId: number, tree: TagTree): Promise<TagFilterTagPath> {
    await this.filter(tagFilterId);
    return this.changed(toJson(await this.store.insertTagFilterTagPath(tagFilterId, formatTagTree(tree))));
  }

  /** Idempotent for a known filter. */
  async deleteTagPath(tagFilterId: number, id: number): Promise<void> {
    await this.filter(tagFilterId);
    this.changed(await this.store.deleteTagFilterTagPath(tagFilterId, id));
  }

  async listAssociations(startIndex: number, count: number): Promise<SourceTagFilter[]> {
    return await this.store.listSourceTagFilters(startIndex, count);
  }

  async createAssociation(
    association: Omit<SourceTagFilter, 'id' | 'tagFilterName'>,
  ): Promise<SourceTagFilter> {
    await this.filter(association.tagFilterId);
    return this.changed(await this.store.insertSourceTagFilter(association));
  }

  async deleteAssociation(id: number): Promise<void> {
    this.changed(await this.store.deleteSourceTagFilter(id));
  }

  /** A source was deleted: its associations go with it (Slicebox's `SourceDeleted`). */
  async forgetSource(source: SourceRef): Promise<void> {
    this.changed(await this.store.deleteSourceTagFiltersOf(source));
  }
}

function toJson(row: TagFilterTagPathRow): TagFilterTagPath {
  return { id: row.id, tagFilterId: row.tagFilterId, tagPath: tagTreeToJson(parseTagTree(row.tagPath)) };
}
