/**
 * The anonymization keys part of the state store. Adapters: sqlite-store.ts, postgres-store.ts.
 */

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
  /** The option names the key was made with (BASIC_PROFILE first). */
  profile: readonly string[];
  values: Array<Omit<AnonymizationKeyValue, 'id' | 'anonymizationKeyId'>>;
};

/** A key that matched, at which level, and the options it was made with. */
export interface KeyMatch {
  level: KeyLevel;
  key: AnonymizationKey;
  values: AnonymizationKeyValue[];
  /** The option names the key was made with; empty for a key recorded before they were kept. */
  profile: readonly string[];
}

/** An earlier key whose real identifiers match a new one's, before its values are read. */
export interface KeyCandidate {
  level: KeyLevel;
  keyId: number;
  profile: readonly string[];
}

/** What a new key is decided from: the earlier keys that match it. */
export interface KeyLookup {
  /**
   * Earlier keys whose real identifiers match, each once at its most specific level: image, series, study,
   * then patient, newest first within a level. Read lazily: stop when done.
   */
  candidates(): Iterable<KeyCandidate>;
  /** A candidate's key and values. */
  load(candidate: KeyCandidate): KeyMatch;
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
   * In one write transaction: lets `decide` build the new key from the earlier keys whose real identifiers
   * match `real`, inserts that key and answers it. Concurrent callers are serialized, so two images of one
   * patient never get two pseudonyms. `decide` is synchronous and pure: the store calls it inside its
   * transaction, between its reads and its insert.
   */
  recordAnonymizationKey(
    real: KeyIdentifiers,
    decide: (earlier: KeyLookup) => NewAnonymizationKey,
  ): Promise<{ key: AnonymizationKey; values: AnonymizationKeyValue[] }>;
  /**
   * Records several keys in one write transaction (one disk flush), in order: each decides from the keys
   * before it, those of the same batch included.
   */
  recordAnonymizationKeys(
    batch: ReadonlyArray<{ real: KeyIdentifiers; decide: (earlier: KeyLookup) => NewAnonymizationKey }>,
  ): Promise<Array<{ key: AnonymizationKey; values: AnonymizationKeyValue[] }>>;
  /** The most specific key whose anonymized identifiers match (for reverse anonymization). */
  findKeyByAnonymized(anon: KeyIdentifiers): Promise<KeyMatch | undefined>;
  listAnonymizationKeys(opts: {
    startIndex: number;
    count: number;
    orderBy?: string;
    orderAscending?: boolean;
    filter?: string;
  }): Promise<AnonymizationKey[]>;
  queryAnonymizationKeys(query: AnonymizationKeyQuery): Promise<AnonymizationKey[]>;
  anonymizationKey(id: number): Promise<AnonymizationKey | undefined>;
  /** Deletes the key and its values; false when unknown. */
  deleteAnonymizationKey(id: number): Promise<boolean>;
  anonymizationKeyValues(keyId: number): Promise<AnonymizationKeyValue[]>;
  /**
   * One page of the CSV export: the keys after `afterKeyId` (at most `keyCount` of them, by id), each with
   * each of its values (one row per key × value; a key without values once, with empty value columns).
   * Paged so that a slow reader never holds the database.
   */
  anonymizationKeyRows(afterKeyId: number, keyCount: number): Promise<AnonymizationKeyRow[]>;
}
