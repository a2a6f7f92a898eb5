/** The API's JSON, as Slicebox shapes it (reference/slicebox.md §3). */
export interface Wrapped {
  value: string;
}
export interface Patient {
  id: number;
  patientName: Wrapped;
  patientID: Wrapped;
  patientBirthDate: Wrapped;
  patientSex: Wrapped;
}
export interface Study {
  id: number;
  patientId: number;
  studyInstanceUID: Wrapped;
  studyDescription: Wrapped;
  studyDate: Wrapped;
  studyID: Wrapped;
  accessionNumber: Wrapped;
  patientAge: Wrapped;
}
export interface Series {
  id: number;
  studyId: number;
  seriesInstanceUID: Wrapped;
  seriesDescription: Wrapped;
  seriesDate: Wrapped;
  modality: Wrapped;
  protocolName: Wrapped;
  bodyPartExamined: Wrapped;
  manufacturer: Wrapped;
  stationName: Wrapped;
  frameOfReferenceUID: Wrapped;
}
export interface Image {
  id: number;
  seriesId: number;
  sopInstanceUID: Wrapped;
  imageType: Wrapped;
  instanceNumber: Wrapped;
}
export interface FlatSeries {
  id: number;
  patient: Patient;
  study: Study;
  series: Series;
}
export interface Source {
  sourceType: string;
  sourceName: string;
  sourceId: number;
}
export interface Destination {
  destinationType: 'scu' | 'box' | string;
  destinationName: string;
  destinationId: number;
}
export interface NamedId {
  id: number;
  name: string;
}
export type Role = 'SUPERUSER' | 'ADMINISTRATOR' | 'USER';
export interface UserInfo {
  id: number;
  user: string;
  role: Role;
}
export interface TagPath {
  tag: number;
  name: string;
  item?: string;
  previous?: TagPath;
}
export interface ImageAttribute {
  tagPath: TagPath;
  namePath: string[];
  vr: string;
  length: number;
  values: string[];
}
export interface ImageInformation {
  numberOfFrames: number;
  frameIndex: number;
  minimumPixelValue: number;
  maximumPixelValue: number;
}
export interface ConfidentialityOption {
  name: string;
  title: string;
  description: string;
  rank: number;
}
export interface Box {
  id: number;
  name: string;
  token: string;
  baseUrl: string;
  sendMethod: 'PUSH' | 'POLL' | 'UNKNOWN';
  defaultProfile: { options: Array<{ name: string }> };
  online: boolean;
}
export type TransactionStatus = 'WAITING' | 'PROCESSING' | 'FINISHED' | 'FAILED' | 'UNKNOWN';
export interface OutgoingTransaction {
  id: number;
  boxId: number;
  boxName: string;
  sentImageCount: number;
  totalImageCount: number;
  failedImageCount?: number;
  created: number;
  updated: number;
  status: TransactionStatus;
}
export interface IncomingTransaction {
  id: number;
  boxId: number;
  boxName: string;
  outgoingTransactionId: number;
  receivedImageCount: number;
  addedImageCount: number;
  totalImageCount: number;
  failedImageCount?: number;
  created: number;
  updated: number;
  status: TransactionStatus;
}
export interface OutgoingImageStatus {
  id: number;
  imageId: number;
  sequenceNumber: number;
  status?: string;
  message?: string;
}
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
export interface Scp {
  id: number;
  name: string;
  aeTitle: string;
  port: number;
  /** Offers C-FIND, C-MOVE and C-GET (Sluice's addition to Slicebox's SCP). */
  queryRetrieve?: boolean;
}
export interface Scu {
  id: number;
  name: string;
  aeTitle: string;
  host: string;
  port: number;
}
export interface WatchedDirectory {
  id: number;
  name: string;
  path: string;
}
export interface ForwardingRule {
  id: number;
  source: Source;
  destination: Destination;
  keepImages: boolean;
}
export interface ForwardingTransaction {
  id: number;
  ruleId: number;
  destination: string;
  keepImages: boolean;
  status: 'OPEN' | 'READY' | 'SENDING' | 'DELIVERING' | 'RETRY' | 'FAILED';
  attempts: number;
  created: number;
  updated: number;
  nextAttemptAt?: number | null;
  lastError?: string | null;
  boxTransactionId?: number | null;
  totalImageCount: number;
  sentImageCount: number;
}
export interface TagFilter {
  id: number;
  name: string;
  tagFilterType: 'WHITELIST' | 'BLACKLIST';
}
export interface TagFilterTagPath {
  id: number;
  tagFilterId: number;
  tagPath: TagPath;
}
export interface SourceTagFilter {
  id: number;
  sourceType: string;
  sourceName: string;
  sourceId: number;
  tagFilterId: number;
  tagFilterName: string;
}
export interface SeriesTypeRule {
  id: number;
  seriesTypeId: number;
}
export interface SeriesTypeRuleAttribute {
  id: number;
  seriesTypeRuleId: number;
  tag: number;
  name: string;
  tagPath: string | null;
  namePath: string | null;
  values: string;
  operator?: string;
}
export interface LogEntry {
  id: number;
  created: number;
  entryType: 'DEFAULT' | 'INFO' | 'WARN' | 'ERROR';
  subject: string;
  message: string;
}
export interface AnonymizationKey {
  id: number;
  created: number;
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
export interface AnonymizationKeyValue {
  id: number;
  anonymizationKeyId: number;
  tagPath: TagPath;
  value: string;
  anonymizedValue: string;
}
export interface QuarantineRecord {
  id: string;
  code: string;
  message: string;
  pipeline: string;
  component: string;
  source: Source;
  detail?: string;
  sopInstanceUID?: string;
  envelopeId?: string;
  size: number;
  quarantinedAt: string;
}
export interface ComponentStatus {
  path: string;
  kind: string;
  type: string;
  counters: Record<string, number>;
}
export interface PipelineStatus {
  name: string;
  file: string;
  running: boolean;
  inFlight: number;
  maxInFlight: number;
  acknowledged: number;
  dropped: number;
  quarantined: number;
  components: ComponentStatus[];
}
