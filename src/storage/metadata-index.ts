/**
 * The metadata index port: patients, studies, series and images with Slicebox's keys and queries. Every method
 * answers a promise, so that an adapter may answer over the network (ClickHouse); a failure is a rejection,
 * never a synchronous throw. Adapters: sqlite-index.ts, clickhouse-index/.
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
  upsert(input: IndexInput): Promise<IndexResult>;
  /** Looks up an image by SOP Instance UID (for idempotent ingest). */
  imageBySopInstanceUid(sopInstanceUid: string): Promise<Image | undefined>;
  list(level: 'patients', opts: ListOptions): Promise<Patient[]>;
  list(level: 'studies', opts: ListOptions): Promise<Study[]>;
  list(level: 'series', opts: ListOptions): Promise<Series[]>;
  list(level: 'images', opts: ListOptions): Promise<Image[]>;
  list(level: 'flatseries', opts: ListOptions): Promise<FlatSeries[]>;
  query(level: 'patients', q: MetadataQuery): Promise<Patient[]>;
  query(level: 'studies', q: MetadataQuery): Promise<Study[]>;
  query(level: 'series', q: MetadataQuery): Promise<Series[]>;
  query(level: 'images', q: MetadataQuery): Promise<Image[]>;
  query(level: 'flatseries', q: MetadataQuery): Promise<FlatSeries[]>;
  patient(id: number): Promise<Patient | undefined>;
  study(id: number): Promise<Study | undefined>;
  series(id: number): Promise<Series | undefined>;
  image(id: number): Promise<Image | undefined>;
  flatSeries(seriesId: number): Promise<FlatSeries | undefined>;
  seriesSource(seriesId: number): Promise<SourceRef | undefined>;
  /** The series source with the origin's name as it was when last indexed (for `/series/{id}/source`). */
  seriesSourceWithName?(seriesId: number): Promise<Source | undefined>;
  /** Images under a patient or study, optionally narrowed by filters. */
  imagesOfPatient(patientId: number, filters?: QueryFilters): Promise<Image[]>;
  imagesOfStudy(studyId: number, filters?: QueryFilters): Promise<Image[]>;
  /** Deletes images; empty series, studies and patients go with them. Returns the ids that existed. */
  deleteImages(ids: number[]): Promise<number[]>;
  /** All image ids (for consistency checks). */
  allImageIds(): Promise<number[]>;
  /** Every image's SOP Instance UID with its id, in one pass (the start-up check after a crash). */
  imageKeys(): Promise<Map<string, number>>;
  /** Records, durably, that the index agrees with the stored files (a clean stop). */
  markConsistent(): Promise<void>;
  /** Whether the index was marked consistent; the mark is taken away, so it counts for one start only. */
  takeConsistent(): Promise<boolean>;
  /** How many patients, studies, series and images are indexed (`/api/system/information`). */
  counts(): Promise<IndexCounts>;
  /**
   * Query/Retrieve (C-FIND, C-MOVE, C-GET, QIDO-RS, WADO-RS): the entities at the query's level that match
   * its keys, in row id order, with the values asked for. Rejects with QueryError for a query it cannot run.
   */
  find(query: FindQuery): Promise<FindMatch[]>;
  /** Images indexed before the Query/Retrieve columns were added, at most `count` (none once filled). */
  imagesWithoutQueryColumns(count: number): Promise<Image[]>;
  /** These images have been indexed again: their Query/Retrieve columns are filled. */
  queryColumnsFilled(ids: number[]): Promise<void>;
  close(): Promise<void>;
  /** Why the index cannot be used now (its server unreachable), for health; undefined when it can. */
  problem(): string | undefined;
}

export interface IndexCounts {
  patients: number;
  studies: number;
  series: number;
  images: number;
}
