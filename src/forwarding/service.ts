/**
 * Forwarding (Slicebox's forwarding rules, made durable). The `forward` and `dicom_forward` sinks enqueue
 * instances into the outbox in the state store and return; the outbox worker (outbox-worker.ts) sends them
 * in batches, retries and dead-letters them. Dead letters (status FAILED) wait for `retry` or `discard`
 * through the API. This service keeps the rules, fills the outbox and shows its transactions.
 */
import type { ForwardingConfig } from '../config.js';
import { BadRequestError, NotFoundError } from '../errors.js';
import type { SourceRef } from '../pipeline/origin.js';
import type { LogService } from '../log/service.js';
import type { BlobStore } from '../storage/blob-store.js';
import type {
  Destination,
  ForwardingItem,
  ForwardingRule,
  ForwardingStatus,
  ForwardingStore,
  ForwardingTransaction,
  ForwardTarget,
  ScuStore,
} from './store.js';
import type { MetadataIndex, Source } from '../storage/metadata-index.js';
import type { OutgoingImage, OutgoingTransaction } from '../boxes/store.js';
import { describePeer, scuPeer, type DicomSender } from './scus.js';
import { OutboxWorker, SUBJECT } from './outbox-worker.js';
import type { StateStore, StateTransaction } from '../storage/state-store.js';

/** What forwarding needs of boxes (BoxService, wired in main.ts); its writes go to the same state store. */
export interface ForwardingBoxes {
  /** The box's name; undefined when there is no such box. */
  boxName(boxId: number): Promise<string | undefined>;
  /** One WAITING outgoing transaction with the box's default profile, in the state store transaction `tx`. */
  sendWithDefaultProfile(
    boxId: number,
    imageIds: number[],
    tx: StateTransaction,
  ): Promise<OutgoingTransaction>;
  outgoingTransaction(id: number): Promise<OutgoingTransaction | undefined>;
  outgoingImages(transactionId: number): Promise<OutgoingImage[]>;
}

export interface ForwardingDeps {
  index: MetadataIndex;
  blobs: BlobStore;
  sender: DicomSender;
  log: LogService;
  /** Boxes as destinations; without them, rules to a box are refused. */
  boxes?: ForwardingBoxes;
}

/** One instance for one route, as the sinks hand it over. */
export interface ForwardRequest {
  routeKey: string;
  ruleId: number | null;
  target: ForwardTarget;
  keepImages: boolean;
  item: ForwardingItem;
  /** See ForwardingStore.enqueueForwards. */
  eventId?: string;
}

/** A transaction as the API shows it, with its destination described. */
export interface ForwardingTransactionView extends ForwardingTransaction {
  destination: string;
}

const sourceKey = (s: SourceRef) => `${s.sourceType}:${s.sourceId}`;

const targetOf = (rule: ForwardingRule): ForwardTarget =>
  rule.destination.destinationType === 'box'
    ? { kind: 'box', boxId: rule.destination.destinationId }
    : { kind: 'scu', scuId: rule.destination.destinationId };

export class ForwardingService {
  private rulesBySource: Promise<Map<string, ForwardingRule[]>> | undefined;
  private pending: Array<{ entries: ForwardRequest[]; resolve: () => void; reject: (e: unknown) => void }> =
    [];
  private flushScheduled = false;
  private readonly worker: OutboxWorker;

  constructor(
    private readonly store: ForwardingStore & ScuStore & Pick<StateStore, 'transaction'>,
    private readonly deps: ForwardingDeps,
    readonly options: ForwardingConfig,
  ) {
    this.worker = new OutboxWorker(store, deps, options, (target) => this.describe(target));
  }

  // ------------------------------------------------------------------ rules

  async listRules(startIndex: number, count: number): Promise<ForwardingRule[]> {
    return await this.store.listForwardingRules(startIndex, count);
  }

  /**
   * Creates a rule, or answers the existing one for the same source and destination unchanged (Slicebox).
   * The destination, an SCU or a box, must exist.
   */
  async createRule(input: {
    source: Source;
    destinationType: string;
    destinationId: number;
    keepImages: boolean;
  }): Promise<ForwardingRule> {
    const destination = await this.destination(input.destinationType, input.destinationId);
    const rule = await this.store.insertForwardingRule({
      source: input.source,
      destination,
      keepImages: input.keepImages,
    });
    this.rulesBySource = undefined;
    return rule;
  }

  private async destination(type: string, id: number): Promise<Destination> {
    if (type === 'scu') {
      const scu = await this.store.scu(id);
      if (!scu) throw new BadRequestError(`SCU ${id} does not exist`);
      return { destinationType: 'scu', destinationName: scu.name, destinationId: scu.id };
    }
    if (type === 'box') {
      const name = await this.deps.boxes?.boxName(id);
      if (name === undefined) throw new BadRequestError(`box ${id} does not exist`);
      return { destinationType: 'box', destinationName: name, destinationId: id };
    }
    throw new BadRequestError(`destination type "${type}" is not supported ("scu" or "box")`);
  }

  /** Idempotent; batches already queued for the rule are still delivered. */
  async deleteRule(id: number): Promise<void> {
    await this.store.deleteForwardingRule(id);
    this.rulesBySource = undefined;
  }

  /** Deletes the rules that send to a deleted SCU (their queued batches will dead-letter). */
  async forgetScu(scuId: number): Promise<void> {
    await this.forgetDestination('scu', scuId);
  }

  /** Deletes the rules that send to a deleted box (their queued and delivering batches will dead-letter). */
  async forgetBox(boxId: number): Promise<void> {
    await this.forgetDestination('box', boxId);
  }

  private async forgetDestination(type: Destination['destinationType'], id: number): Promise<void> {
    for (const rule of await this.store.listForwardingRules(0, Number.MAX_SAFE_INTEGER))
      if (rule.destination.destinationType === type && rule.destination.destinationId === id)
        await this.store.deleteForwardingRule(rule.id);
    this.rulesBySource = undefined;
  }

  /** Drops the cached rules: another process may have changed them (processes sharing the state store). */
  refresh(): void {
    this.rulesBySource = undefined;
  }

  /** Deletes the rules of a deleted source (their queued batches are still delivered). */
  async forgetSource(source: SourceRef): Promise<void> {
    for (const rule of await this.rulesFor(source)) await this.store.deleteForwardingRule(rule.id);
    this.rulesBySource = undefined;
  }

  /**
   * The rules whose source is this one; cached until a rule changes. The cache holds the store's promise
   * from the moment it is asked, so a change that lands while it is answered drops it rather than being
   * overwritten by the older answer, and a failed load is not kept. A cached answer costs the forward
   * sink a microtask, no query.
   */
  async rulesFor(source: SourceRef): Promise<readonly ForwardingRule[]> {
    if (!this.rulesBySource) {
      const loading = this.loadRules();
      this.rulesBySource = loading;
      loading.catch(() => {
        if (this.rulesBySource === loading) this.rulesBySource = undefined;
      });
    }
    return (await this.rulesBySource).get(sourceKey(source)) ?? [];
  }

  private async loadRules(): Promise<Map<string, ForwardingRule[]>> {
    const map = new Map<string, ForwardingRule[]>();
    for (const rule of await this.store.listForwardingRules(0, Number.MAX_SAFE_INTEGER)) {
      const list = map.get(sourceKey(rule.source)) ?? [];
      list.push(rule);
      map.set(sourceKey(rule.source), list);
    }
    return map;
  }

  // ------------------------------------------------------------------ outbox

  /**
   * Adds instances to the outbox; resolves once they are durable. Requests made before the current microtask
   * queue drains share one state store transaction (one fsync). A microtask, not setImmediate: the extra turn
   * of the event loop cost single-association ingest about 40% here (bench/forward.ts, "without a rule").
   */
  enqueue(entries: ForwardRequest[]): Promise<void> {
    if (!entries.length) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.pending.push({ entries, resolve, reject });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        queueMicrotask(() => void this.flush());
      }
    });
  }

  private async flush(): Promise<void> {
    this.flushScheduled = false;
    const batch = this.pending;
    this.pending = [];
    try {
      await this.store.enqueueForwards(
        batch.flatMap((b) => b.entries),
        Date.now(),
        this.options.batchMax,
      );
      for (const b of batch) b.resolve();
    } catch (err) {
      for (const b of batch) b.reject(err);
    }
  }

  /** The instance for every managed rule of its source; answers how many rules matched. */
  async forwardByRules(source: SourceRef, item: ForwardingItem, eventId?: string): Promise<number> {
    const rules = await this.rulesFor(source);
    await this.enqueue(
      rules.map((rule) => ({
        routeKey: `rule:${rule.id}`,
        ruleId: rule.id,
        target: targetOf(rule),
        keepImages: rule.keepImages,
        item,
        ...(eventId ? { eventId } : {}),
      })),
    );
    return rules.length;
  }

  async listTransactions(opts: {
    startIndex: number;
    count: number;
    status?: ForwardingStatus;
  }): Promise<ForwardingTransactionView[]> {
    // Each destination is described once per page, not once per transaction.
    const described = new Map<string, Promise<string>>();
    const describe = (target: ForwardTarget) => {
      const key = JSON.stringify(target);
      let description = described.get(key);
      if (!description) described.set(key, (description = this.describe(target)));
      return description;
    };
    const views: ForwardingTransactionView[] = [];
    for (const t of await this.store.listForwardingTransactions(opts))
      views.push({ ...t, destination: await describe(t.target) });
    return views;
  }

  async transaction(id: number): Promise<ForwardingTransactionView> {
    const t = await this.store.forwardingTransaction(id);
    if (!t) throw new NotFoundError(`forwarding transaction ${id}`);
    return await this.view(t);
  }

  async transactionImages(id: number): Promise<ForwardingItem[]> {
    await this.transaction(id);
    return await this.store.forwardingItems(id, false);
  }

  /** Sends a dead-lettered (or waiting) batch again now, with a fresh count of attempts. */
  async retry(id: number): Promise<ForwardingTransactionView> {
    const t = await this.transaction(id);
    if (t.status !== 'FAILED' && t.status !== 'RETRY')
      throw new BadRequestError(
        `forwarding transaction ${id} is ${t.status}; only FAILED or RETRY ones can be retried`,
      );
    await this.store.setForwardingStatus(id, { status: 'RETRY', attempts: 0, nextAttemptAt: Date.now() });
    void this.deps.log.write({
      subject: SUBJECT,
      type: 'INFO',
      message: `Forwarding transaction ${id} to ${t.destination} retried by hand`,
    });
    this.kick();
    return await this.transaction(id);
  }

  /** Gives up on a batch that is not being sent (its instances stay stored). Idempotent. */
  async discard(id: number): Promise<void> {
    const t = await this.store.forwardingTransaction(id);
    if (!t) return;
    if (t.status === 'SENDING') throw new BadRequestError(`forwarding transaction ${id} is being sent`);
    await this.store.deleteForwardingTransaction(id);
    // Images another (delivered) keepImages=false batch was waiting for may go now.
    void this.worker.deleteForwardedImages();
    const goesOn =
      t.status === 'DELIVERING' ? `; the box's outgoing transaction ${t.boxTransactionId} goes on` : '';
    const destination = await this.describe(t.target);
    void this.deps.log.write({
      subject: SUBJECT,
      type: 'WARN',
      message: `Forwarding transaction ${id} (${t.totalImageCount - t.sentImageCount} unsent instances to ${destination}) discarded${goesOn}`,
    });
  }

  private async view(t: ForwardingTransaction): Promise<ForwardingTransactionView> {
    return { ...t, destination: await this.describe(t.target) };
  }

  private async describe(target: ForwardTarget): Promise<string> {
    if (target.kind === 'dicom') return describePeer(target);
    if (target.kind === 'box') {
      const name = await this.deps.boxes?.boxName(target.boxId);
      return name === undefined ? `box ${target.boxId} (deleted)` : `box "${name}"`;
    }
    const scu = await this.store.scu(target.scuId);
    return scu ? `SCU ${describePeer(scuPeer(scu))}` : `SCU ${target.scuId} (deleted)`;
  }

  // ------------------------------------------------------------------ worker

  /** Starts the worker; batches a crash left half sent are due at once. */
  async start(): Promise<void> {
    await this.worker.start();
  }

  /** Stops picking batches and waits for those being sent. */
  stop(): Promise<void> {
    return this.worker.stop();
  }

  /** Looks for due batches now (after a retry by hand). */
  kick(): void {
    this.worker.kick();
  }
}
