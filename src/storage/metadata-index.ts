/**
 * The metadata index port: patients, studies, series and images with Slicebox's keys and queries. Adapter:
 * sqlite-index.ts.
 */
import type { Origin, SourceRef, SourceType } from '../pipeline/origin.js';
import type { DicomHeader } from '../dicom/header.js';
import type { SeriesLabelIndex } from '../series-types/store.js';
import type { FindMatch, FindQuery } from './find-query.js';

/** Slicebox wraps DICOM strings as `{ value }`. */
export interface DicomValue {
  value: string;
}

export interface Patient {
  id: number;
  patientName: DicomValue;
  patientID: DicomValue;
  patientBirthDate: DicomValue;
  patientSex: DicomValue;
}

export interface Study {
  id: number;
  patientId: number;
  studyInstanceUID: DicomValue;
  studyDescription: DicomValue;
  studyDate: DicomValue;
  studyID: DicomValue;
  accessionNumber: DicomValue;
  patientAge: DicomValue;
}

export interface Series {
  id: number;
  studyId: number;
  seriesInstanceUID: DicomValue;
  seriesDescription: DicomValue;
  seriesDate: DicomValue;
  modality: DicomValue;
  protocolName: DicomValue;
  bodyPartExamined: DicomValue;
  manufacturer: DicomValue;
  stationName: DicomValue;
  frameOfReferenceUID: DicomValue;
}

export interface Image {
  id: number;
  seriesId: number;
  sopInstanceUID: DicomValue;
  imageType: DicomValue;
  instanceNumber: DicomValue;
}

export interface FlatSeries {
  id: number;
  patient: Patient;
  study: Study;
  series: Series;
}

export interface Source {
  sourceType: SourceType;
  sourceName: string;
  sourceId: number;
}

export type Level = 'patients' | 'studies' | 'series' | 'images' | 'flatseries';

export type QueryOperator = '=' | 'like' | '<' | '>' | '<=' | '>=' | 'in';

export interface QueryProperty {
  propertyName: string;
  operator: QueryOperator;
  /** For `in`: a comma-separated list or an array of values. */
  propertyValue: string | string[];
}

export interface QueryFilters {
  sourceRefs?: SourceRef[];
  seriesTypeIds?: number[];
  seriesTagIds?: number[];
}

export interface ListOptions {
  startIndex: number;
  count: number;
  orderBy?: string;
  orderAscending?: boolean;
  /** Case-insensitive "contains" over the level's string columns. */
  filter?: string;
  filters?: QueryFilters;
  /** Parent id for studies (patientId), series (studyId), images (seriesId). */
  parentId?: number;
}

export interface MetadataQuery {
  startIndex: number;
  count: number;
  order?: { orderBy: string; orderAscending: boolean };
  queryProperties: QueryProperty[];
  filters?: QueryFilters;
}

/** What ingest knows about an instance when it indexes it. */
export interface IndexInput {
  header: DicomHeader;
  origin: Origin;
  /** Size of the stored file in bytes. */
  size: number;
}

export interface IndexResult {
  image: Image;
  /** false when the SOP instance was already indexed (overwrite: HTTP 200 instead of 201). */
  created: boolean;
}

export interface MetadataIndex extends SeriesLabelIndex {
  /** Upserts patient/study/series/image and the series source in one transaction. */
  upsert(input: IndexInput): IndexResult;
  /** Looks up an image by SOP Instance UID (for idempotent ingest). */
  imageBySopInstanceUid(sopInstanceUid: string): Image | undefined;
  list(level: 'patients', opts: ListOptions): Patient[];
  list(level: 'studies', opts: ListOptions): Study[];
  list(level: 'series', opts: ListOptions): Series[];
  list(level: 'images', opts: ListOptions): Image[];
  list(level: 'flatseries', opts: ListOptions): FlatSeries[];
  query(level: 'patients', q: MetadataQuery): Patient[];
  query(level: 'studies', q: MetadataQuery): Study[];
  query(level: 'series', q: MetadataQuery): Series[];
  query(level: 'images', q: MetadataQuery): Image[];
  query(level: 'flatseries', q: MetadataQuery): FlatSeries[];
  patient(id: number): Patient | undefined;
  study(id: number): Study | undefined;
  series(id: number): Series | undefined;
  image(id: number): Image | undefined;
  flatSeries(seriesId: number): FlatSeries | undefined;
  seriesSource(seriesId: number): SourceRef | undefined;
  /** The series source with the origin's name as it was when last indexed (for `/series/{id}/source`). */
  seriesSourceWithName?(seriesId: number): Source | undefined;
  /** Images under a patient or study, optionally narrowed by filters. */
  imagesOfPatient(patientId: number, filters?: QueryFilters): Image[];
  imagesOfStudy(studyId: number, filters?: QueryFilters): Image[];
  /** Deletes images; empty series, studies and patients go with them. Returns the ids that existed. */
  deleteImages(ids: number[]): number[];
  /** All image ids (for consistency checks). */
  allImageIds(): number[];
  /** Every image's SOP Instance UID with its id, in one pass (the start-up check after a crash). */
  imageKeys(): Map<string, number>;
  /** Records, durably, that the index agrees with the stored files (a clean stop). */
  markConsistent(): void;
  /** Whether the index was marked consistent; the mark is taken away, so it counts for one start only. */
  takeConsistent(): boolean;
  /** How many patients, studies, series and images are indexed (`/api/system/information`). */
  counts(): IndexCounts;
  /**
   * Query/Retrieve (C-FIND, C-MOVE, C-GET, QIDO-RS, WADO-RS): the entities at the query's level that match
   * its keys, in row id order, with the values asked for. Throws QueryError for a query it cannot run.
   */
  find(query: FindQuery): FindMatch[];
  /** Images indexed before the Query/Retrieve columns were added, at most `count` (none once filled). */
  imagesWithoutQueryColumns(count: number): Image[];
  /** These images have been indexed again: their Query/Retrieve columns are filled. */
  queryColumnsFilled(ids: number[]): void;
  close(): void;
}

export interface IndexCounts {
  patients: number;
  studies: number;
  series: number;
  images: number;
}
