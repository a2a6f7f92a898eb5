/**
 * The log users read through `/api/log` (Slicebox's `LogEntry`): sends, forwarding retries and dead letters,
 * ingest failures, sources starting and stopping. Entries name SOP instance UIDs, ids, AE titles and
 * addresses, never patient names or IDs: callers pass messages built from those only.
 */
import type { LogEntry, LogEntryType, LogStore } from './store.js';
import { logger } from '../ops/logger.js';

const log = logger('log');

export type LogType = Exclude<LogEntryType, 'DEFAULT'>;

export interface LogWrite {
  /** What the entry is about, e.g. `Forwarding`, `SCU`, `Ingest`, `SCP`; the API filters on it. */
  subject: string;
  type: LogType;
  message: string;
}

export class LogService {
  constructor(
    private readonly store: LogStore,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Writes an entry; never rejects (a full disk must not turn a delivered send into a failure), so
   * synchronous code may leave it to finish (`void`) where it cannot wait.
   */
  async write({ subject, type, message }: LogWrite): Promise<LogEntry | undefined> {
    try {
      return await this.store.insertLogEntry({ created: this.now(), entryType: type, subject, message });
    } catch (err) {
      log.error({ err, subject, message }, 'cannot write log entry');
      return undefined;
    }
  }

  async list(opts: {
    startIndex: number;
    count: number;
    subject?: string;
    entryType?: LogEntryType;
  }): Promise<LogEntry[]> {
    return await this.store.listLogEntries(opts);
  }

  async delete(id: number): Promise<void> {
    await this.store.deleteLogEntry(id);
  }

  async clear(): Promise<void> {
    await this.store.clearLog();
  }
}
