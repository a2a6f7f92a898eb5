/**
 * The forwarding part of the state store: SCUs, forwarding rules and the outbox. Adapters: sqlite-scus.ts,
 * sqlite-store.ts (SQLite), postgres-scus.ts, postgres-store.ts (PostgreSQL).
 */
import type { Source } from '../storage/metadata-index.js';

/** Slicebox's `ScuData`: a remote C-STORE SCP we send to. */
export interface ScuData {
  id: number;
  name: string;
  aeTitle: string;
  host: string;
  port: number;
}

export interface ScuStore {
  listScus(startIndex: number, count: number): Promise<ScuData[]>;
  scu(id: number): Promise<ScuData | undefined>;
  /** Throws BadRequestError when the name or the host and port are taken. */
  insertScu(scu: Omit<ScuData, 'id'>): Promise<ScuData>;
  deleteScu(id: number): Promise<boolean>;
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
  listForwardingRules(startIndex: number, count: number): Promise<ForwardingRule[]>;
  forwardingRule(id: number): Promise<ForwardingRule | undefined>;
  /** Inserts a rule, or answers the existing one for the same source and destination (unchanged). */
  insertForwardingRule(rule: Omit<ForwardingRule, 'id'>): Promise<ForwardingRule>;
  /** Deletes the rule; its queued transactions stay and are delivered. */
  deleteForwardingRule(id: number): Promise<boolean>;

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
      /**
       * The bus event the instance came in (a worker's): an entry whose event was queued for the route
       * before (a redelivery after a worker died) is skipped, so it is sent once.
       */
      eventId?: string;
    }>,
    now: number,
    batchMax: number,
  ): Promise<void>;
  /** Transactions due now: READY, OPEN and quiet since `quietBefore`, or RETRY with `nextAttemptAt` passed. */
  dueForwardingTransactions(
    now: number,
    quietBefore: number,
    limit: number,
  ): Promise<ForwardingTransaction[]>;
  /**
   * The transactions due now (as `dueForwardingTransactions`), made SENDING in the same step, so that no
   * two workers take one (PostgreSQL: FOR UPDATE SKIP LOCKED). They are answered as they were before. A
   * SENDING transaction holds its `nextAttemptAt` as a lease (`leaseUntil`, renewed by its sender): one whose
   * lease ran out is due again (its sender died).
   */
  claimDueForwardingTransactions(
    now: number,
    quietBefore: number,
    limit: number,
    leaseUntil?: number,
  ): Promise<ForwardingTransaction[]>;
  /** Extends the leases of SENDING transactions their sender still works on. */
  renewForwardingLeases(ids: number[], leaseUntil: number): Promise<void>;
  forwardingTransaction(id: number): Promise<ForwardingTransaction | undefined>;
  listForwardingTransactions(opts: {
    startIndex: number;
    count: number;
    status?: ForwardingStatus;
  }): Promise<ForwardingTransaction[]>;
  /** Instances of a transaction: all of them, or only those not yet delivered. */
  forwardingItems(transactionId: number, unsentOnly: boolean): Promise<ForwardingItem[]>;
  markForwardingItemsSent(transactionId: number, sopInstanceUids: string[]): Promise<void>;
  setForwardingStatus(
    id: number,
    change: { status: ForwardingStatus; attempts?: number; nextAttemptAt?: number; lastError?: string },
  ): Promise<void>;
  /** Transactions handed to a box, waiting for its outgoing transaction to end. */
  deliveringForwardingTransactions(): Promise<ForwardingTransaction[]>;
  setForwardingBoxTransaction(id: number, boxTransactionId: number | null): Promise<void>;
  /** Start-up: transactions left SENDING by a crash are due again at once. */
  resetSendingForwardingTransactions(now: number): Promise<number>;
  /** Removes a delivered (or discarded) transaction with its instances. */
  deleteForwardingTransaction(id: number): Promise<boolean>;
  /** keepImages=false: these images are deleted once no transaction still has to send them. */
  markImagesForDeletion(imageIds: number[]): Promise<void>;
  /** Marked images that no transaction still has to send. */
  deletableImages(): Promise<number[]>;
  /** Removes the marks once the images are deleted (a crash before leaves them for the next start). */
  forgetDeletions(imageIds: number[]): Promise<void>;
}
