/**
 * Ports: what the engine needs from the outside world. Adapters in src/adapters implement them;
 * src/main.ts wires them. Nothing in src/core imports an adapter.
 */
import type { Readable } from 'node:stream';
import type { DicomHeader } from './dicom/header.js';
import type { Origin, SourceRef, SourceType } from './pipeline/envelope.js';

// ---------------------------------------------------------------- blob store

export interface BlobStore {
  /** Moves a durable file (landing) into the store under `key`, atomically replacing any previous one. */
  putFile(key: string, fromPath: string): Promise<void>;
  /**
   * Writes bytes held in memory (an instance an operator rewrote) under `key`, written once, durable and
   * atomically replacing any previous version, as putFile.
   */
  putBytes(key: string, bytes: Buffer): Promise<void>;
  /** Streams the stored bytes; throws NotFoundError when absent. */
  open(key: string): Promise<{ stream: Readable; size: number }>;
  /** Local path when the store is a file system (for renderers and parsers), else undefined. */
  localPath(key: string): string | undefined;
  exists(key: string): Promise<boolean>;
  /** Idempotent. */
  delete(key: string): Promise<void>;
  /** Every key in the store (for consistency checks at start). */
  keys(): AsyncIterable<string>;
}

// ---------------------------------------------------------------- metadata index

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
  close(): void;
}

// ---------------------------------------------------------------- state store: users, sessions, login throttling

/** Slicebox's roles; each includes the ones after it. */
export type Role = 'SUPERUSER' | 'ADMINISTRATOR' | 'USER';

/** Slicebox's `UserInfo` (and `ApiUser` without `hashedPassword`, which no route ever answers). */
export interface UserInfo {
  id: number;
  user: string;
  role: Role;
}

export interface UserStore {
  /** Users ordered by id, without password hashes. */
  listUsers(startIndex: number, count: number): UserInfo[];
  user(id: number): UserInfo | undefined;
  /** The one place a password hash leaves the store: for verification, never for an answer. */
  credentials(name: string): { user: UserInfo; passwordHash: string } | undefined;
  /** The user holding the role SUPERUSER, if any. */
  superuser(): UserInfo | undefined;
  /** Inserts a user unless the name is taken; answers the user with that name either way. */
  insertUser(user: Omit<UserInfo, 'id'> & { passwordHash: string }): { user: UserInfo; created: boolean };
  /** Changes any of name, role and password hash. */
  updateUser(id: number, change: Partial<Omit<UserInfo, 'id'>> & { passwordHash?: string }): void;
  /** Deletes the user and their sessions. Returns whether the user existed. */
  deleteUser(id: number): boolean;

  /** Sessions are found by the SHA-256 of their token; the token itself is never stored. */
  insertSession(session: { tokenHash: string; userId: number; createdAt: number }): void;
  session(tokenHash: string): { user: UserInfo; lastUsedAt: number } | undefined;
  touchSession(tokenHash: string, lastUsedAt: number): void;
  deleteSession(tokenHash: string): void;
  deleteSessionsOf(userId: number): void;
  /** Deletes sessions idle since before `before` (ms epoch). */
  deleteSessionsIdleSince(before: number): number;

  /** Records one failed login under each key (a user name key and an address key). */
  recordLoginFailure(keys: readonly string[], at: number): void;
  /** Times (ms epoch) of the failures under `key` since `since`, newest first. */
  loginFailuresSince(key: string, since: number): number[];
  clearLoginFailures(key: string): void;
  deleteLoginFailuresBefore(before: number): void;
}

// ---------------------------------------------------------------- series types (state store) and series labels (index)

/** How a rule attribute compares the series' value with `values`; `equals` is Slicebox's only comparison. */
export type AttributeOperator = 'equals' | 'contains' | 'starts_with' | 'regex' | '<' | '>' | 'range';

export interface SeriesType {
  id: number;
  name: string;
}
export interface SeriesTypeRule {
  id: number;
  seriesTypeId: number;
}
/** Slicebox's `SeriesTypeRuleAttribute`, plus an optional operator (default `equals`) and regex flags. */
export interface SeriesTypeRuleAttribute {
  id: number;
  seriesTypeRuleId: number;
  tag: number;
  name: string;
  /** Comma-separated decimal sequence tags to descend into (item 1), or null for the root. */
  tagPath: string | null;
  namePath: string | null;
  values: string;
  operator: AttributeOperator;
  /** Regex flags (`i`, `m`, `s`, `u`) for operator `regex`; empty otherwise. */
  flags: string;
}
/** A series type with its rules and their attributes: what classification evaluates. */
export interface SeriesTypeDefinition extends SeriesType {
  rules: Array<SeriesTypeRule & { attributes: SeriesTypeRuleAttribute[] }>;
}

export interface SeriesTypeStore {
  listSeriesTypes(startIndex: number, count: number): SeriesType[];
  seriesType(id: number): SeriesType | undefined;
  /** Inserts a type unless the name is taken; undefined when it is. */
  insertSeriesType(name: string): SeriesType | undefined;
  /** The type with this name, created when missing (static types from pipeline files). */
  ensureSeriesType(name: string): SeriesType;
  /** Renames; false when the id is unknown. Throws BadRequestError when the name is taken. */
  updateSeriesType(id: number, name: string): boolean;
  /** Deletes the type with its rules and attributes; false when unknown. */
  deleteSeriesType(id: number): boolean;
  listSeriesTypeRules(seriesTypeId: number): SeriesTypeRule[];
  seriesTypeRule(id: number): SeriesTypeRule | undefined;
  insertSeriesTypeRule(seriesTypeId: number): SeriesTypeRule;
  deleteSeriesTypeRule(id: number): boolean;
  listSeriesTypeRuleAttributes(seriesTypeRuleId: number): SeriesTypeRuleAttribute[];
  insertSeriesTypeRuleAttribute(attribute: Omit<SeriesTypeRuleAttribute, 'id'>): SeriesTypeRuleAttribute;
  deleteSeriesTypeRuleAttribute(id: number): boolean;
  /** Every managed type with its rules and attributes. */
  seriesTypeDefinitions(): SeriesTypeDefinition[];
}

export interface SeriesTag {
  id: number;
  name: string;
}

/** Series type assignments and series tags, kept in the index next to the series they label. */
export interface SeriesLabelIndex {
  /** All series ids (for re-classification). */
  allSeriesIds(): number[];
  /** The series' type assignments; `manual` ones survive re-classification. */
  seriesTypeAssignments(seriesId: number): Array<{ seriesTypeId: number; manual: boolean }>;
  /** Assignments of many series at once, ordered by series id then type id. */
  seriesTypeAssignmentsOf(seriesIds: number[]): Array<{ seriesId: number; seriesTypeId: number }>;
  /** Assigns a type by hand (a second time is a no-op; an automatic assignment becomes manual). */
  assignSeriesType(seriesId: number, seriesTypeId: number): void;
  unassignSeriesType(seriesId: number, seriesTypeId: number): void;
  unassignAllSeriesTypes(seriesId: number): void;
  /** Replaces the series' automatic assignments with `seriesTypeIds`, keeping manual ones. */
  setAutomaticSeriesTypes(seriesId: number, seriesTypeIds: readonly number[]): void;
  /** Removes every assignment of a deleted type. */
  forgetSeriesType(seriesTypeId: number): void;

  listSeriesTags(opts: {
    startIndex: number;
    count: number;
    orderBy?: 'id' | 'name';
    orderAscending?: boolean;
    filter?: string;
  }): SeriesTag[];
  seriesTag(id: number): SeriesTag | undefined;
  /** Inserts a tag unless the name is taken; undefined when it is. */
  insertSeriesTag(name: string): SeriesTag | undefined;
  /** Renames; undefined when the id is unknown. Throws BadRequestError when the name is taken. */
  renameSeriesTag(id: number, name: string): SeriesTag | undefined;
  /** Deletes the tag and its links; false when unknown. */
  deleteSeriesTag(id: number): boolean;
  seriesTagsOf(seriesId: number): SeriesTag[];
  /** Links the tag with this name (created when new) to the series. */
  addSeriesTagToSeries(seriesId: number, name: string): SeriesTag;
  /** Unlinks; a tag left on no series is deleted. */
  removeSeriesTagFromSeries(seriesId: number, seriesTagId: number): void;
}

// ---------------------------------------------------------------- tag filters (state store)

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
  listTagFilters(startIndex: number, count: number): TagFilter[];
  tagFilter(id: number): TagFilter | undefined;
  insertTagFilter(filter: Omit<TagFilter, 'id'>): TagFilter;
  /** Deletes the filter with its tag paths and associations; false when unknown. */
  deleteTagFilter(id: number): boolean;
  listTagFilterTagPaths(tagFilterId: number, startIndex: number, count: number): TagFilterTagPathRow[];
  insertTagFilterTagPath(tagFilterId: number, tagPath: string): TagFilterTagPathRow;
  deleteTagFilterTagPath(tagFilterId: number, id: number): boolean;
  listSourceTagFilters(startIndex: number, count: number): SourceTagFilter[];
  /** Inserts an association, or answers the existing one for the same source and filter. */
  insertSourceTagFilter(association: Omit<SourceTagFilter, 'id' | 'tagFilterName'>): SourceTagFilter;
  deleteSourceTagFilter(id: number): boolean;
  /** Removes the associations of a deleted source; answers how many. */
  deleteSourceTagFiltersOf(source: SourceRef): number;
  /** Every associated filter with its tag paths, per source (what the tag_filter operator caches). */
  associatedTagFilters(): Array<{ source: SourceRef; filter: TagFilter; tagPaths: string[] }>;
}

// ---------------------------------------------------------------- managed sources (state store)

/** Slicebox's `ScpData`: a C-STORE SCP opened and closed through the API. */
export interface ScpData {
  id: number;
  name: string;
  aeTitle: string;
  port: number;
}
/** Slicebox's `WatchedDirectory`; `path` is absolute. */
export interface WatchedDirectory {
  id: number;
  name: string;
  path: string;
}
/** Slicebox's `ImportSession`; times in ms since the epoch. */
export interface ImportSession {
  id: number;
  name: string;
  userId: number;
  user: string;
  filesImported: number;
  filesAdded: number;
  filesRejected: number;
  created: number;
  lastUpdated: number;
}
export type ImportCounter = 'added' | 'duplicate' | 'rejected';

export interface ManagedSourceStore {
  listScps(startIndex: number, count: number): ScpData[];
  scp(id: number): ScpData | undefined;
  insertScp(scp: Omit<ScpData, 'id'>): ScpData;
  deleteScp(id: number): boolean;
  listWatchedDirectories(startIndex: number, count: number): WatchedDirectory[];
  watchedDirectory(id: number): WatchedDirectory | undefined;
  insertWatchedDirectory(dir: Omit<WatchedDirectory, 'id'>): WatchedDirectory;
  deleteWatchedDirectory(id: number): boolean;
  listImportSessions(startIndex: number, count: number): ImportSession[];
  importSession(id: number): ImportSession | undefined;
  importSessionByName(name: string): ImportSession | undefined;
  insertImportSession(session: Pick<ImportSession, 'name' | 'userId' | 'user'>, now: number): ImportSession;
  deleteImportSession(id: number): boolean;
  /** Counts one file of a session (and links the image when one was stored); answers the session. */
  countImport(id: number, counter: ImportCounter, imageId: number | undefined, now: number): ImportSession;
  importSessionImageIds(id: number): number[];
}

// ---------------------------------------------------------------- export sets (state store)

/** Images chosen for one zip download (`POST /api/images/export`), kept until they expire. */
export interface ExportSet {
  id: number;
  imageIds: number[];
  /** ms epoch */
  createdAt: number;
}

export interface ExportSetStore {
  insertExportSet(imageIds: readonly number[], createdAt: number): ExportSet;
  exportSet(id: number): ExportSet | undefined;
  /** Deletes sets created before `before` (ms epoch); answers how many. */
  deleteExportSetsCreatedBefore(before: number): number;
}

// ---------------------------------------------------------------- anonymization keys (state store)

/** Slicebox's `AnonymizationKey`: one per anonymized image, real and anonymized identifiers side by side. */
export interface AnonymizationKey {
  id: number;
  /** ms epoch. */
  created: number;
  /** The source image's id when a stored image was anonymized through the API; -1 in a pipeline. */
  imageId: number;
  patientName: string;
  anonPatientName: string;
  patientID: string;
  anonPatientID: string;
  studyInstanceUID: string;
  anonStudyInstanceUID: string;
  seriesInstanceUID: string;
  anonSeriesInstanceUID: string;
  sopInstanceUID: string;
  anonSOPInstanceUID: string;
}

/** Where an attribute belongs; a key matched at a level shares the values of that level and above. */
export type KeyLevel = 'PATIENT' | 'STUDY' | 'SERIES' | 'IMAGE';

/** Slicebox's `AnonymizationKeyValue` (tagPath in string form, `(0008,0050)`), with its level. */
export interface AnonymizationKeyValue {
  id: number;
  anonymizationKeyId: number;
  tagPath: string;
  level: KeyLevel;
  value: string;
  anonymizedValue: string;
}

/** A row of the keys' CSV export. */
export type AnonymizationKeyRow = AnonymizationKey & {
  tagPath: string;
  value: string;
  anonymizedValue: string;
};

/** A key about to be inserted. */
export type NewAnonymizationKey = Omit<AnonymizationKey, 'id'> & {
  values: Array<Omit<AnonymizationKeyValue, 'id' | 'anonymizationKeyId'>>;
};

/** The most specific key that matched, and at which level. */
export interface KeyMatch {
  level: KeyLevel;
  key: AnonymizationKey;
  values: AnonymizationKeyValue[];
}

/** The five identifiers keys are matched on (real or anonymized). */
export interface KeyIdentifiers {
  patientName: string;
  patientID: string;
  studyInstanceUID: string;
  seriesInstanceUID: string;
  sopInstanceUID: string;
}

export interface AnonymizationKeyQuery {
  startIndex: number;
  count: number;
  order?: { orderBy: string; orderAscending: boolean };
  queryProperties: Array<{ propertyName: string; operator: '=' | 'like'; propertyValue: string }>;
}

export interface AnonymizationKeyStore {
  /**
   * In one write transaction: finds the most specific key whose real identifiers match `real` (image,
   * series, study, then patient; newest first), lets `decide` build the new key from it, inserts that key
   * and answers it. Concurrent callers are serialized, so two images of one patient never get two pseudonyms.
   */
  recordAnonymizationKey(
    real: KeyIdentifiers,
    decide: (match: KeyMatch | undefined) => NewAnonymizationKey,
  ): { key: AnonymizationKey; values: AnonymizationKeyValue[] };
  /** The most specific key whose anonymized identifiers match (for reverse anonymization). */
  findKeyByAnonymized(anon: KeyIdentifiers): KeyMatch | undefined;
  listAnonymizationKeys(opts: {
    startIndex: number;
    count: number;
    orderBy?: string;
    orderAscending?: boolean;
    filter?: string;
  }): AnonymizationKey[];
  queryAnonymizationKeys(query: AnonymizationKeyQuery): AnonymizationKey[];
  anonymizationKey(id: number): AnonymizationKey | undefined;
  /** Deletes the key and its values; false when unknown. */
  deleteAnonymizationKey(id: number): boolean;
  anonymizationKeyValues(keyId: number): AnonymizationKeyValue[];
  /**
   * One page of the CSV export: the keys after `afterKeyId` (at most `keyCount` of them, by id), each with
   * each of its values (one row per key × value; a key without values once, with empty value columns).
   * Paged so that a slow reader never holds the database.
   */
  anonymizationKeyRows(afterKeyId: number, keyCount: number): AnonymizationKeyRow[];
}

// ---------------------------------------------------------------- log, SCUs, forwarding (state store)

export type LogEntryType = 'DEFAULT' | 'INFO' | 'WARN' | 'ERROR';

/** Slicebox's `LogEntry`; `created` is ms since the epoch. */
export interface LogEntry {
  id: number;
  created: number;
  entryType: LogEntryType;
  subject: string;
  message: string;
}

export interface LogStore {
  insertLogEntry(entry: Omit<LogEntry, 'id'>): LogEntry;
  /** Newest first, optionally narrowed to one subject and/or one type. */
  listLogEntries(opts: {
    startIndex: number;
    count: number;
    subject?: string;
    entryType?: LogEntryType;
  }): LogEntry[];
  deleteLogEntry(id: number): boolean;
  clearLog(): number;
}

/** Slicebox's `ScuData`: a remote C-STORE SCP we send to. */
export interface ScuData {
  id: number;
  name: string;
  aeTitle: string;
  host: string;
  port: number;
}

export interface ScuStore {
  listScus(startIndex: number, count: number): ScuData[];
  scu(id: number): ScuData | undefined;
  /** Throws BadRequestError when the name or the host and port are taken. */
  insertScu(scu: Omit<ScuData, 'id'>): ScuData;
  deleteScu(id: number): boolean;
}

/** Slicebox's `Destination`. */
export interface Destination {
  destinationType: 'box' | 'scu' | 'unknown';
  destinationName: string;
  destinationId: number;
}

/** Slicebox's `ForwardingRule`. */
export interface ForwardingRule {
  id: number;
  source: Source;
  destination: Destination;
  keepImages: boolean;
}

// ---------------------------------------------------------------- boxes (state store)

export type BoxSendMethod = 'PUSH' | 'POLL';
/** Slicebox's transaction statuses (UNKNOWN only as a parse fallback, never stored). */
export type TransactionStatus = 'WAITING' | 'PROCESSING' | 'FINISHED' | 'FAILED';

/** A box as stored; the API answers it as Slicebox's `Box` (see BoxService). */
export interface BoxRow {
  id: number;
  name: string;
  /** POLL: the token remote PUSH boxes present; PUSH: the remote's token (last segment of baseUrl). */
  token: string;
  /** POLL: the URL handed to the other side; PUSH: the remote's transactions URL. */
  baseUrl: string;
  sendMethod: BoxSendMethod;
  /** Option names of the default anonymization profile. */
  defaultProfile: string[];
  /** ms epoch of the last successful poll (POLL: the remote polled us; PUSH: we polled the remote). */
  lastPollAt: number | null;
  /** PUSH: whether our last poll of the remote succeeded. */
  lastPollOk: boolean;
}

/** Slicebox's `OutgoingTransaction`, plus the number of images that failed for good. */
export interface OutgoingTransaction {
  id: number;
  boxId: number;
  boxName: string;
  /** Option names of the profile the images are anonymized with. */
  profile: string[];
  sentImageCount: number;
  failedImageCount: number;
  totalImageCount: number;
  created: number;
  updated: number;
  status: TransactionStatus;
}

export type OutgoingImageStatus = 'WAITING' | 'SENT' | 'FAILED';

/** Slicebox's `OutgoingImage` (`sent`), plus our per-image status, failure reason and retry bookkeeping. */
export interface OutgoingImage {
  id: number;
  outgoingTransactionId: number;
  imageId: number;
  sequenceNumber: number;
  sent: boolean;
  status: OutgoingImageStatus;
  /** Why the image failed (FAILED), or the last transient error (WAITING, being retried). */
  message: string | null;
  attempts: number;
  nextAttemptAt: number;
}

/** A root tag value applied on top of the profile (Slicebox's `OutgoingTagValue`). */
export interface BoxTagValue {
  tag: number;
  value: string;
}

/** Slicebox's `IncomingTransaction`, plus the number of images the pipeline rejected. */
export interface IncomingTransaction {
  id: number;
  boxId: number;
  boxName: string;
  /** The sender's outgoing transaction id. */
  outgoingTransactionId: number;
  receivedImageCount: number;
  addedImageCount: number;
  failedImageCount: number;
  totalImageCount: number;
  created: number;
  updated: number;
  status: TransactionStatus;
}

export interface IncomingImage {
  incomingTransactionId: number;
  sequenceNumber: number;
  /** The stored image (null when the pipeline dropped it on purpose, or it failed). */
  imageId: number | null;
  added: boolean;
  status: 'RECEIVED' | 'FAILED';
  message: string | null;
}

export interface BoxStore {
  listBoxes(startIndex: number, count: number): BoxRow[];
  box(id: number): BoxRow | undefined;
  boxByName(name: string): BoxRow | undefined;
  /** Every POLL box (their tokens authenticate the transaction routes). */
  pollBoxes(): BoxRow[];
  insertBox(box: Omit<BoxRow, 'id' | 'lastPollAt' | 'lastPollOk'>): BoxRow;
  /** Deletes the box with its transactions; false when unknown. */
  deleteBox(id: number): boolean;
  recordPoll(id: number, ok: boolean, at: number): void;

  /** Creates a WAITING transaction with images numbered 1..N, atomically. */
  insertOutgoingTransaction(
    box: BoxRow,
    profile: string[],
    images: Array<{ imageId: number; tagValues: BoxTagValue[] }>,
    now: number,
  ): OutgoingTransaction;
  listOutgoingTransactions(startIndex: number, count: number): OutgoingTransaction[];
  outgoingTransaction(id: number): OutgoingTransaction | undefined;
  deleteOutgoingTransaction(id: number): boolean;
  outgoingImages(transactionId: number): OutgoingImage[];
  outgoingImage(id: number): OutgoingImage | undefined;
  outgoingTagValues(outgoingImageId: number): BoxTagValue[];
  /**
   * The next WAITING images of the box's unfinished transactions whose retry time has come, oldest
   * transaction first, then by sequence number.
   */
  nextOutgoingImages(
    boxId: number,
    count: number,
    now: number,
  ): Array<{ transaction: OutgoingTransaction; image: OutgoingImage }>;
  /** The earliest retry time among the box's WAITING images, if any. */
  nextOutgoingAttemptAt(boxId: number): number | undefined;
  /** WAITING → SENT (a second call is a no-op); finalizes the transaction when no image waits. */
  markOutgoingSent(imageId: number, now: number): OutgoingTransaction | undefined;
  /** WAITING → FAILED with the reason; finalizes the transaction when no image waits. */
  markOutgoingFailed(imageId: number, message: string, now: number): OutgoingTransaction | undefined;
  /** Records a transient failure: the image stays WAITING until `nextAttemptAt`. */
  deferOutgoing(imageId: number, message: string, nextAttemptAt: number, now: number): void;
  /** WAITING → PROCESSING when images of the transaction are on their way. */
  touchOutgoing(transactionId: number, now: number): void;
  /** Finished or failed transactions of a PUSH box whose final status the remote has not acknowledged. */
  outgoingAwaitingRemoteStatus(boxId: number): OutgoingTransaction[];
  clearRemoteStatusPending(transactionId: number): void;

  /** The incoming transaction for the sender's outgoing id, created WAITING on first sight. */
  ensureIncomingTransaction(
    box: BoxRow,
    outgoingTransactionId: number,
    totalImageCount: number,
    now: number,
  ): IncomingTransaction;
  incomingTransactionFor(boxId: number, outgoingTransactionId: number): IncomingTransaction | undefined;
  incomingImage(incomingTransactionId: number, sequenceNumber: number): IncomingImage | undefined;
  /**
   * Records one image of an incoming transaction (a retried sequence number updates its row unless it was
   * already received) and recounts; FINISHED (or FAILED) once every image is accounted for.
   */
  recordIncomingImage(
    image: Omit<IncomingImage, 'incomingTransactionId'> & { incomingTransactionId: number },
    now: number,
  ): IncomingTransaction;
  setIncomingStatus(id: number, status: TransactionStatus, now: number): void;
  listIncomingTransactions(startIndex: number, count: number): IncomingTransaction[];
  incomingTransaction(id: number): IncomingTransaction | undefined;
  deleteIncomingTransaction(id: number): boolean;
  incomingImageIds(incomingTransactionId: number): number[];
  /** PROCESSING transactions (both ways) not updated since `before` go back to WAITING. */
  revertStaleTransactions(before: number, now: number): number;
}

/**
 * Where a forwarding transaction goes: a managed destination (an SCU or a box, by id, resolved at each
 * attempt) or a static DICOM peer declared in a pipeline file.
 */
export type ForwardTarget =
  | { kind: 'scu'; scuId: number }
  | { kind: 'box'; boxId: number }
  | { kind: 'dicom'; name: string; aeTitle: string; host: string; port: number };

/**
 * A batch of instances on its way to one destination. OPEN collects instances until it is quiet; READY is
 * full and waits for a sender; SENDING is being sent; DELIVERING has been handed to a box as an outgoing
 * transaction and waits for it to end; RETRY waits for `nextAttemptAt`; FAILED is dead-lettered until
 * retried by hand. Delivered transactions are removed.
 */
export type ForwardingStatus = 'OPEN' | 'READY' | 'SENDING' | 'DELIVERING' | 'RETRY' | 'FAILED';

export interface ForwardingTransaction {
  id: number;
  /** The managed rule (null for static `dicom_forward` sinks). */
  ruleId: number | null;
  /** Identifies what collects into one batch: `rule:<id>` or `static:<pipeline>:<path>`. */
  routeKey: string;
  target: ForwardTarget;
  keepImages: boolean;
  status: ForwardingStatus;
  /** Failed attempts so far. */
  attempts: number;
  /** ms epoch: when the last instance was added (OPEN) / when the next attempt is due (RETRY). */
  created: number;
  updated: number;
  nextAttemptAt: number;
  lastError: string;
  /** The box's outgoing transaction that carries this batch (DELIVERING), else null. */
  boxTransactionId: number | null;
  totalImageCount: number;
  sentImageCount: number;
}

export interface ForwardingItem {
  imageId: number;
  sopInstanceUid: string;
}

export interface ForwardingStore {
  listForwardingRules(startIndex: number, count: number): ForwardingRule[];
  forwardingRule(id: number): ForwardingRule | undefined;
  /** Inserts a rule, or answers the existing one for the same source and destination (unchanged). */
  insertForwardingRule(rule: Omit<ForwardingRule, 'id'>): ForwardingRule;
  /** Deletes the rule; its queued transactions stay and are delivered. */
  deleteForwardingRule(id: number): boolean;

  /**
   * Adds instances to the OPEN transaction of each route (created when missing) in one database transaction;
   * a transaction that reaches `batchMax` instances becomes READY.
   */
  enqueueForwards(
    entries: Array<{
      routeKey: string;
      ruleId: number | null;
      target: ForwardTarget;
      keepImages: boolean;
      item: ForwardingItem;
    }>,
    now: number,
    batchMax: number,
  ): void;
  /** Transactions due now: READY, OPEN and quiet since `quietBefore`, or RETRY with `nextAttemptAt` passed. */
  dueForwardingTransactions(now: number, quietBefore: number, limit: number): ForwardingTransaction[];
  forwardingTransaction(id: number): ForwardingTransaction | undefined;
  listForwardingTransactions(opts: {
    startIndex: number;
    count: number;
    status?: ForwardingStatus;
  }): ForwardingTransaction[];
  /** Instances of a transaction: all of them, or only those not yet delivered. */
  forwardingItems(transactionId: number, unsentOnly: boolean): ForwardingItem[];
  markForwardingItemsSent(transactionId: number, sopInstanceUids: string[]): void;
  setForwardingStatus(
    id: number,
    change: { status: ForwardingStatus; attempts?: number; nextAttemptAt?: number; lastError?: string },
  ): void;
  /** Transactions handed to a box, waiting for its outgoing transaction to end. */
  deliveringForwardingTransactions(): ForwardingTransaction[];
  setForwardingBoxTransaction(id: number, boxTransactionId: number | null): void;
  /**
   * Runs `fn` in one transaction of the whole state store (every part shares one SQLite database, so the
   * writes of other parts that `fn` makes commit or roll back with it); nested calls become savepoints.
   */
  atomically<T>(fn: () => T): T;
  /** Start-up: transactions left SENDING by a crash are due again at once. */
  resetSendingForwardingTransactions(now: number): number;
  /** Removes a delivered (or discarded) transaction with its instances. */
  deleteForwardingTransaction(id: number): boolean;
  /** keepImages=false: these images are deleted once no transaction still has to send them. */
  markImagesForDeletion(imageIds: number[]): void;
  /** Marked images that no transaction still has to send. */
  deletableImages(): number[];
  /** Removes the marks once the images are deleted (a crash before leaves them for the next start). */
  forgetDeletions(imageIds: number[]): void;
}

/**
 * What users manage at run time: users, sessions and login throttling, series types, tag filters, managed
 * sources, export sets, anonymization keys, the log, SCUs, forwarding rules and the forwarding outbox, and
 * boxes with their transactions.
 */
export interface StateStore
  extends
    UserStore,
    SeriesTypeStore,
    TagFilterStore,
    ManagedSourceStore,
    ExportSetStore,
    AnonymizationKeyStore,
    LogStore,
    ScuStore,
    ForwardingStore,
    BoxStore {
  close(): void;
}
