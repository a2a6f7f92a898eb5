/**
 * The managed sources part of the state store: SCPs, watched directories and import sessions. Adapters:
 * sqlite-store.ts, postgres-store.ts.
 */

/** Slicebox's `ScpData`: a C-STORE SCP opened and closed through the API. */
export interface ScpData {
  id: number;
  name: string;
  aeTitle: string;
  port: number;
  /** Sluice's addition: the SCP offers C-FIND, C-MOVE and C-GET (when `managed_sources` lets SCPs). */
  queryRetrieve: boolean;
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
  listScps(startIndex: number, count: number): Promise<ScpData[]>;
  scp(id: number): Promise<ScpData | undefined>;
  insertScp(scp: Omit<ScpData, 'id'>): Promise<ScpData>;
  deleteScp(id: number): Promise<boolean>;
  listWatchedDirectories(startIndex: number, count: number): Promise<WatchedDirectory[]>;
  watchedDirectory(id: number): Promise<WatchedDirectory | undefined>;
  insertWatchedDirectory(dir: Omit<WatchedDirectory, 'id'>): Promise<WatchedDirectory>;
  deleteWatchedDirectory(id: number): Promise<boolean>;
  listImportSessions(startIndex: number, count: number): Promise<ImportSession[]>;
  importSession(id: number): Promise<ImportSession | undefined>;
  importSessionByName(name: string): Promise<ImportSession | undefined>;
  insertImportSession(
    session: Pick<ImportSession, 'name' | 'userId' | 'user'>,
    now: number,
  ): Promise<ImportSession>;
  deleteImportSession(id: number): Promise<boolean>;
  /** Counts one file of a session (and links the image when one was stored); answers the session. */
  countImport(
    id: number,
    counter: ImportCounter,
    imageId: number | undefined,
    now: number,
  ): Promise<ImportSession>;
  importSessionImageIds(id: number): Promise<number[]>;
}
