import { keepPreviousData, useQuery } from '@tanstack/react-query';
import type { Paging, Sort } from '../components/common';
import { useKept } from './state';
import { api } from './api';
import { toDicomDate } from './format';
import type { Image, NamedId, Source } from './types';

export interface SearchFields {
  patientName: string;
  patientID: string;
  modality: string;
  dateFrom: string;
  dateTo: string;
  description: string;
  sources: string[];
  seriesTypes: string[];
  seriesTags: string[];
}

export const EMPTY_SEARCH: SearchFields = {
  patientName: '',
  patientID: '',
  modality: '',
  dateFrom: '',
  dateTo: '',
  description: '',
  sources: [],
  seriesTypes: [],
  seriesTags: [],
};

/** Slicebox's `Query` body (POST /api/metadata/{level}/query) from the search form. */
export function metadataQuery(
  f: SearchFields,
  startIndex: number,
  count: number,
  order?: { by: string; ascending: boolean },
) {
  const props: Array<{ propertyName: string; operator: string; propertyValue: string }> = [];
  const like = (propertyName: string, v: string) =>
    v.trim() && props.push({ propertyName, operator: 'like', propertyValue: v.trim() });
  like('patientName', f.patientName);
  like('patientID', f.patientID);
  like('studyDescription', f.description);
  if (f.modality.trim())
    props.push({ propertyName: 'modality', operator: '=', propertyValue: f.modality.trim().toUpperCase() });
  if (f.dateFrom)
    props.push({ propertyName: 'studyDate', operator: '>=', propertyValue: toDicomDate(f.dateFrom) });
  if (f.dateTo)
    props.push({ propertyName: 'studyDate', operator: '<=', propertyValue: toDicomDate(f.dateTo) });
  const filters = {
    sourceRefs: f.sources.map((s) => {
      const [sourceType, sourceId] = s.split(':');
      return { sourceType, sourceId: Number(sourceId) };
    }),
    seriesTypeIds: f.seriesTypes.map(Number),
    seriesTagIds: f.seriesTags.map(Number),
  };
  return {
    startIndex,
    count,
    order: order ? { orderBy: order.by, orderAscending: order.ascending } : undefined,
    queryProperties: props,
    filters,
  };
}

export function isSearching(f: SearchFields): boolean {
  return Object.values(f).some((v) => (Array.isArray(v) ? v.length > 0 : v !== ''));
}

export const useSources = () => useQuery({ queryKey: ['sources'], queryFn: () => api<Source[]>('/sources') });
export const useSeriesTypes = () =>
  useQuery({ queryKey: ['seriestypes'], queryFn: () => api<NamedId[]>('/seriestypes?count=10000') });
export const useSeriesTags = () =>
  useQuery({
    queryKey: ['metadata', 'seriestags'],
    queryFn: () => api<NamedId[]>('/metadata/seriestags?count=10000&orderby=name'),
  });

export type Level = 'patients' | 'studies' | 'series' | 'images';

/** The image ids under selected patients, studies or series (actions work on images). */
export async function imageIdsOf(level: Level, ids: number[]): Promise<number[]> {
  if (level === 'images') return ids;
  const lists = await Promise.all(
    ids.map((id) =>
      level === 'series'
        ? api<Image[]>(`/metadata/images?seriesid=${id}&count=10000`, { what: 'Finding the images' })
        : api<Image[]>(`/metadata/${level}/${id}/images`, { what: 'Finding the images' }),
    ),
  );
  return lists.flat().map((i) => i.id);
}

export const sourceKey = (s: { sourceType: string; sourceId: number }) => `${s.sourceType}:${s.sourceId}`;
export const sourceLabel = (s: Source) => `${s.sourceName || s.sourceType} (${s.sourceType})`;

/**
 * A searched, sorted, paged list of one metadata level, kept across visits under `key`: the search, paging
 * and sort state, the query (one row more than a page, to know whether there is a next page) and the page's
 * rows.
 */
export function useMetadataSearch<T>(
  key: string,
  level: 'patients' | 'flatseries',
  what: string,
  defaultSort: Sort,
) {
  const [search, setSearch] = useKept<SearchFields>(`${key}.search`, EMPTY_SEARCH);
  const [paging, setPaging] = useKept<Paging>(`${key}.paging`, { page: 0, pageSize: 25 });
  const [sort, setSort] = useKept<Sort>(`${key}.sort`, defaultSort);
  const query = useQuery({
    queryKey: ['metadata', level, search, paging, sort],
    queryFn: () =>
      api<T[]>(`/metadata/${level}/query`, {
        body: metadataQuery(search, paging.page * paging.pageSize, paging.pageSize + 1, sort),
        what,
      }),
    placeholderData: keepPreviousData,
  });
  const rows = query.data?.slice(0, paging.pageSize) ?? [];
  return { search, setSearch, paging, setPaging, sort, setSort, query, rows };
}
