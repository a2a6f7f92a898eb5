/**
 * The log part of the state store (`/api/log`). Adapters: sqlite-store.ts, postgres-store.ts.
 */

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
  insertLogEntry(entry: Omit<LogEntry, 'id'>): Promise<LogEntry>;
  /** Newest first, optionally narrowed to one subject and/or one type. */
  listLogEntries(opts: {
    startIndex: number;
    count: number;
    subject?: string;
    entryType?: LogEntryType;
  }): Promise<LogEntry[]>;
  deleteLogEntry(id: number): Promise<boolean>;
  clearLog(): Promise<number>;
}
