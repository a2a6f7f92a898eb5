/**
 * Forwarding (Slicebox's forwarding rules, made durable). The `forward` and `dicom_forward` sinks enqueue
 * instances into the outbox in the state store and return; this service's worker sends each route's batch
 * once it has been quiet for `quietMs` (at once when it holds `batchMax` instances), at most `concurrency` batches at a
 * time, retries a failed batch with exponential backoff and, after `maxAttempts`, moves it to the dead
 * letters (status FAILED), where it waits for `retry` or `discard` through the API. Delivered batches leave
 * the outbox; with keepImages=false their images are deleted then, once no other batch still has to send
 * them. Batches being sent when the process died are sent again at start (at least once: the peer may
 * receive up to one flush of instances twice; PACS treat a repeated SOP instance as the same one).
 */
import type { ForwardingConfig } from './config.js';
import { BadRequestError, NotFoundError, PipelineError } from './errors.js';
import type { SourceRef } from './envelope.js';
import type { LogService } from './log.js';
import type {
  BlobStore,
  ForwardingItem,
  ForwardingRule,
  ForwardingStatus,
  ForwardingStore,
  ForwardingTransaction,
  ForwardTarget,
  MetadataIndex,
  ScuStore,
  Source,
} from './ports.js';
import {
  describePeer,
  failedSendError,
  scuPeer,
  type DicomPeer,
  type DicomSender,
  type SendResult,
} from './scus.js';

export interface ForwardingDeps {
  index: MetadataIndex;
  blobs: BlobStore;
  storageKey: (sopInstanceUid: string) => string;
  sender: DicomSender;
  log: LogService;
}

/** One instance for one route, as the sinks hand it over. */
export interface ForwardRequest {
  routeKey: string;
  ruleId: number | null;
  target: ForwardTarget;
  keepImages: boolean;
  item: ForwardingItem;
}

/** A transaction as the API shows it, with its destination described. */
export interface ForwardingTransactionView extends ForwardingTransaction {
  destination: string;
}

const SUBJECT = 'Forwarding';
/** Results marked delivered in one state store write while a batch is sent. */
const MARK_EVERY = 32;

class PermanentError extends PipelineError {}

const sourceKey = (s: SourceRef) => `${s.sourceType}:${s.sourceId}`;

export class ForwardingService {
  private rulesBySource: Map<string, ForwardingRule[]> | undefined;
  private pending: Array<{ entries: ForwardRequest[]; resolve: () => void; reject: (e: unknown) => void }> =
    [];
  private flushScheduled = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly inFlight = new Map<number, Promise<void>>();
  private running = false;

  constructor(
    private readonly store: ForwardingStore & ScuStore,
    private readonly deps: ForwardingDeps,
    readonly options: ForwardingConfig,
  ) {}

  // ------------------------------------------------------------------ rules

  listRules(startIndex: number, count: number): ForwardingRule[] {
    return this.store.listForwardingRules(startIndex, count);
  }

  /**
   * Creates a rule, or answers the existing one for the same source and destination unchanged (Slicebox).
   * The destination must exist; boxes are not supported yet.
   */
  createRule(input: {
    source: Source;
    destinationType: string;
    destinationId: number;
    keepImages: boolean;
  }): ForwardingRule {
    if (input.destinationType !== 'scu')
      throw new BadRequestError(`destination type "${input.destinationType}" is not supported (only "scu")`);
    const scu = this.store.scu(input.destinationId);
    if (!scu) throw new BadRequestError(`SCU ${input.destinationId} does not exist`);
    const rule = this.store.insertForwardingRule({
      source: input.source,
      destination: { destinationType: 'scu', destinationName: scu.name, destinationId: scu.id },
      keepImages: input.keepImages,
    });
    this.rulesBySource = undefined;
    return rule;
  }

  /** Idempotent; batches already queued for the rule are still delivered. */
  deleteRule(id: number): void {
    this.store.deleteForwardingRule(id);
    this.rulesBySource = undefined;
  }

  /** Deletes the rules that send to a deleted SCU (their queued batches will dead-letter). */
  forgetScu(scuId: number): void {
    for (const rule of this.store.listForwardingRules(0, Number.MAX_SAFE_INTEGER))
      if (rule.destination.destinationType === 'scu' && rule.destination.destinationId === scuId)
        this.store.deleteForwardingRule(rule.id);
    this.rulesBySource = undefined;
  }

  /** Deletes the rules of a deleted source (their queued batches are still delivered). */
  forgetSource(source: SourceRef): void {
    for (const rule of this.rulesFor(source)) this.store.deleteForwardingRule(rule.id);
    this.rulesBySource = undefined;
  }

  /** The rules whose source is this one; cached until a rule changes. */
  rulesFor(source: SourceRef): readonly ForwardingRule[] {
    if (!this.rulesBySource) {
      const map = new Map<string, ForwardingRule[]>();
      for (const rule of this.store.listForwardingRules(0, Number.MAX_SAFE_INTEGER)) {
        const list = map.get(sourceKey(rule.source)) ?? [];
        list.push(rule);
        map.set(sourceKey(rule.source), list);
      }
      this.rulesBySource = map;
    }
    return this.rulesBySource.get(sourceKey(source)) ?? [];
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
        queueMicrotask(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.flushScheduled = false;
    const batch = this.pending;
    this.pending = [];
    try {
      this.store.enqueueForwards(
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
  async forwardByRules(source: SourceRef, item: ForwardingItem): Promise<number> {
    const rules = this.rulesFor(source);
    await this.enqueue(
      rules.map((rule) => ({
        routeKey: `rule:${rule.id}`,
        ruleId: rule.id,
        target: { kind: 'scu', scuId: rule.destination.destinationId },
        keepImages: rule.keepImages,
        item,
      })),
    );
    return rules.length;
  }

  listTransactions(opts: {
    startIndex: number;
    count: number;
    status?: ForwardingStatus;
  }): ForwardingTransactionView[] {
    return this.store.listForwardingTransactions(opts).map((t) => this.view(t));
  }

  transaction(id: number): ForwardingTransactionView {
    const t = this.store.forwardingTransaction(id);
    if (!t) throw new NotFoundError(`forwarding transaction ${id}`);
    return this.view(t);
  }

  transactionImages(id: number): ForwardingItem[] {
    this.transaction(id);
    return this.store.forwardingItems(id, false);
  }

  /** Sends a dead-lettered (or waiting) batch again now, with a fresh count of attempts. */
  retry(id: number): ForwardingTransactionView {
    const t = this.transaction(id);
    if (t.status !== 'FAILED' && t.status !== 'RETRY')
      throw new BadRequestError(
        `forwarding transaction ${id} is ${t.status}; only FAILED or RETRY ones can be retried`,
      );
    this.store.setForwardingStatus(id, { status: 'RETRY', attempts: 0, nextAttemptAt: Date.now() });
    this.deps.log.write({
      subject: SUBJECT,
      type: 'INFO',
      message: `Forwarding transaction ${id} to ${t.destination} retried by hand`,
    });
    this.kick();
    return this.transaction(id);
  }

  /** Gives up on a batch that is not being sent (its instances stay stored). Idempotent. */
  discard(id: number): void {
    const t = this.store.forwardingTransaction(id);
    if (!t) return;
    if (t.status === 'SENDING') throw new BadRequestError(`forwarding transaction ${id} is being sent`);
    this.store.deleteForwardingTransaction(id);
    // Images another (delivered) keepImages=false batch was waiting for may go now.
    void this.deleteForwardedImages();
    this.deps.log.write({
      subject: SUBJECT,
      type: 'WARN',
      message: `Forwarding transaction ${id} (${t.totalImageCount - t.sentImageCount} unsent instances to ${this.describe(t.target)}) discarded`,
    });
  }

  private view(t: ForwardingTransaction): ForwardingTransactionView {
    return { ...t, destination: this.describe(t.target) };
  }

  private describe(target: ForwardTarget): string {
    if (target.kind === 'dicom') return describePeer(target);
    const scu = this.store.scu(target.scuId);
    return scu ? `SCU ${describePeer(scuPeer(scu))}` : `SCU ${target.scuId} (deleted)`;
  }

  // ------------------------------------------------------------------ worker

  /** Starts the worker; batches a crash left half sent are due at once. */
  start(): void {
    if (this.running) return;
    this.running = true;
    const reset = this.store.resetSendingForwardingTransactions(Date.now());
    if (reset)
      this.deps.log.write({
        subject: SUBJECT,
        type: 'INFO',
        message: `${reset} forwarding transaction(s) interrupted by a stop are sent again`,
      });
    // Deletions after delivery that a crash interrupted.
    void this.deleteForwardedImages();
    this.schedule(0);
  }

  /** Stops picking batches and waits for those being sent. */
  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    await Promise.allSettled([...this.inFlight.values()]);
  }

  /** Looks for due batches now (after a retry by hand). */
  kick(): void {
    if (this.running) this.schedule(0);
  }

  private get tickMs(): number {
    // A cheap indexed query; often enough that a full batch leaves within ~0.1 s.
    return Math.max(20, Math.min(100, Math.floor(this.options.quietMs / 4), this.options.retryBaseMs));
  }

  private schedule(ms: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.tick(), ms);
    this.timer.unref();
  }

  private tick(): void {
    if (!this.running) return;
    try {
      const room = this.options.concurrency - this.inFlight.size;
      if (room > 0) {
        const now = Date.now();
        for (const t of this.store.dueForwardingTransactions(now, now - this.options.quietMs, room)) {
          this.store.setForwardingStatus(t.id, { status: 'SENDING' });
          const delivery = this.deliver(t)
            .catch((err: Error) => console.error(`forwarding transaction ${t.id}: ${err.message}`))
            .finally(() => {
              this.inFlight.delete(t.id);
              this.kick();
            });
          this.inFlight.set(t.id, delivery);
        }
      }
    } catch (err) {
      console.error(`forwarding worker: ${(err as Error).message}`);
    }
    if (this.running) this.schedule(this.tickMs);
  }

  private resolve(target: ForwardTarget): DicomPeer {
    if (target.kind === 'dicom') return target;
    const scu = this.store.scu(target.scuId);
    if (!scu) throw new PermanentError('FORWARD.NO_DESTINATION', `SCU ${target.scuId} no longer exists`, 400);
    return scuPeer(scu);
  }

  private async deliver(t: ForwardingTransaction): Promise<void> {
    const items = this.store.forwardingItems(t.id, true);
    const destination = this.describe(t.target);
    let sent = 0;
    try {
      const peer = this.resolve(t.target);
      const { blobs, storageKey } = this.deps;
      const paths: string[] = [];
      const gone: string[] = [];
      for (const item of items) {
        const key = storageKey(item.sopInstanceUid);
        const path = blobs.localPath(key);
        if (!path)
          throw new PermanentError(
            'FORWARD.NO_LOCAL_FILE',
            'forwarding needs a blob store on the local file system',
            500,
          );
        if (await blobs.exists(key)) paths.push(path);
        else gone.push(item.sopInstanceUid);
      }
      if (gone.length) {
        this.store.markForwardingItemsSent(t.id, gone);
        this.deps.log.write({
          subject: SUBJECT,
          type: 'WARN',
          message: `${gone.length} instance(s) of forwarding transaction ${t.id} were deleted before they could be sent to ${destination}: ${gone.slice(0, 5).join(', ')}${gone.length > 5 ? ', …' : ''}`,
        });
      }
      const failures: SendResult[] = [];
      let delivered: string[] = [];
      const mark = () => {
        if (delivered.length) this.store.markForwardingItemsSent(t.id, delivered);
        delivered = [];
      };
      try {
        if (paths.length)
          await this.deps.sender.send(peer, paths, (r) => {
            if (!r.stored) return void failures.push(r);
            delivered.push(r.sopInstanceUid);
            if (delivered.length >= MARK_EVERY) mark();
          });
      } finally {
        mark();
      }
      if (failures.length) throw failedSendError(peer, paths.length, failures);
      sent = paths.length;
    } catch (err) {
      this.failed(t, destination, err as Error);
      return;
    }
    await this.delivered(t, destination, sent);
  }

  private async delivered(t: ForwardingTransaction, destination: string, sent: number): Promise<void> {
    if (!t.keepImages)
      this.store.markImagesForDeletion(this.store.forwardingItems(t.id, false).map((i) => i.imageId));
    this.store.deleteForwardingTransaction(t.id);
    this.deps.log.write({
      subject: SUBJECT,
      type: 'INFO',
      message: `Forwarding transaction ${t.id}: ${sent} instance(s) delivered to ${destination}${t.attempts ? ` after ${t.attempts} failed attempt(s)` : ''}`,
    });
    await this.deleteForwardedImages();
  }

  /** keepImages=false: files first, then the index rows (as `DELETE /api/images` does). */
  private async deleteForwardedImages(): Promise<void> {
    const { index, blobs, storageKey, log } = this.deps;
    const ids = this.store.deletableImages();
    if (!ids.length) return;
    try {
      const images = ids.map((id) => index.image(id)).filter((i) => i !== undefined);
      for (const image of images) await blobs.delete(storageKey(image.sopInstanceUID.value));
      index.deleteImages(images.map((i) => i.id));
      this.store.forgetDeletions(ids);
      log.write({
        subject: SUBJECT,
        type: 'INFO',
        message: `Deleted ${images.length} forwarded image(s) (keepImages=false)`,
      });
    } catch (err) {
      log.write({
        subject: SUBJECT,
        type: 'ERROR',
        message: `Cannot delete forwarded images ${ids.join(', ')}: ${(err as Error).message}`,
      });
    }
  }

  private failed(t: ForwardingTransaction, destination: string, err: Error): void {
    const attempts = t.attempts + 1;
    const max = this.options.maxAttempts;
    const left = this.store.forwardingItems(t.id, true).length;
    if (err instanceof PermanentError || attempts >= max) {
      this.store.setForwardingStatus(t.id, { status: 'FAILED', attempts, lastError: err.message });
      this.deps.log.write({
        subject: SUBJECT,
        type: 'ERROR',
        message: `Forwarding transaction ${t.id}: ${left} instance(s) to ${destination} moved to the dead letters after ${attempts} attempt(s): ${err.message}`,
      });
      return;
    }
    const delay = Math.min(this.options.retryMaxMs, this.options.retryBaseMs * 2 ** (attempts - 1));
    this.store.setForwardingStatus(t.id, {
      status: 'RETRY',
      attempts,
      nextAttemptAt: Date.now() + delay,
      lastError: err.message,
    });
    this.deps.log.write({
      subject: SUBJECT,
      type: 'WARN',
      message: `Forwarding transaction ${t.id}: attempt ${attempts} of ${max} to send ${left} instance(s) to ${destination} failed: ${err.message}; next attempt in ${delay < 1000 ? `${delay} ms` : `${(delay / 1000).toFixed(delay % 1000 ? 1 : 0)} s`}`,
    });
  }
}
