/**
 * The state store port: every managed capability's part in one store (one database, one transaction scope).
 * Adapters: sqlite-state.ts (the embedded default), postgres-state/ (`SLUICE_STATE=postgres://…`). Every method answers a promise (for PostgreSQL); the SQLite parts do the work
 * within the call and answer settled promises (storage/settled.ts), waiting only while a transaction is open
 * (storage/sqlite-transactions.ts).
 */
import type { UserStore } from '../users/store.js';
import type { SeriesTypeStore } from '../series-types/store.js';
import type { TagFilterStore } from '../tag-filters/store.js';
import type { ManagedSourceStore } from '../managed-sources/store.js';
import type { ExportSetStore } from '../export/store.js';
import type { AnonymizationKeyStore } from '../anonymization/store.js';
import type { LogStore } from '../log/store.js';
import type { ForwardingStore, ScuStore } from '../forwarding/store.js';
import type { BoxStore } from '../boxes/store.js';

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
  /**
   * Runs `work` in one transaction of the whole store, through the stores it is given (`tx`): committed
   * when it resolves, rolled back when it rejects. Inside, use only `tx` (the store itself would wait for
   * the transaction; the SQLite adapter refuses such a call). Others' calls meanwhile wait (SQLite) or run
   * apart (PostgreSQL, row locks).
   */
  transaction<T>(work: (tx: StateTransaction) => Promise<T>): Promise<T>;
  /** Closes the store once the calls made before have been answered (an open transaction ends first). */
  close(): Promise<void>;
  /** Why the store cannot be used now (its server unreachable), for health; undefined when it can. */
  problem(): string | undefined;
}

/** The state store as bound to one transaction. */
export type StateTransaction = Omit<StateStore, 'transaction' | 'close' | 'problem'>;
