/**
 * The forwarding outbox's worker. It sends each route's batch once it has been quiet for `quietMs` (at once
 * when it holds `batchMax` instances), at most `concurrency` batches at a time, retries a failed batch with
 * exponential backoff and, after `maxAttempts`, moves it to the dead letters (status FAILED). Delivered
 * batches leave the outbox; with keepImages=false their images are deleted then, once no other batch still
 * has to send them. Batches being sent when the process died are sent again at start (at least once: the
 * peer may receive up to one flush of instances twice; PACS treat a repeated SOP instance as the same one).
 *
 * A batch for a box becomes one outgoing box transaction with the box's default profile (Slicebox), and
 * waits, DELIVERING, until the box has sent it (FINISHED): only then is it delivered, so keepImages=false
 * deletes nothing the box still has to read, and a box transaction that FAILED dead-letters the batch
 * with the images it could not send, deleting nothing.
 */
import { deleteStoredImages } from '../storage/stored-images.js';
import { storedObject, type StoredObject } from '../storage/stored-object.js';
import type { ForwardingConfig } from '../config.js';
import { SluiceError } from '../errors.js';
import type {
  ForwardingItem,
  ForwardingStore,
  ForwardingTransaction,
  ForwardTarget,
  ScuStore,
} from './store.js';
import { failedSendError, scuPeer, type DicomPeer, type SendResult } from './scus.js';
import type { ForwardingDeps } from './service.js';
import { logger } from '../ops/logger.js';
import type { StateStore } from '../storage/state-store.js';

const log = logger('forwarding');

export const SUBJECT = 'Forwarding';
/** How long a batch being sent is held without renewal (ForwardingConfig.leaseMs). */
const DEFAULT_LEASE_MS = 30_000;

class PermanentError extends SluiceError {}

export class OutboxWorker {
  private timer: NodeJS.Timeout | undefined;
  private readonly inFlight = new Map<number, Promise<void>>();
  private running = false;
  private boxesCheckedAt = 0;
  /** The tick under way: ticks never overlap, so no batch is picked twice. */
  private ticking: Promise<void> | undefined;
  /** A tick was asked for while one was under way: the next follows at once. */
  private tickAgain = false;
  private leases: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: ForwardingStore & ScuStore & Pick<StateStore, 'transaction'>,
    private readonly deps: ForwardingDeps,
    private readonly options: ForwardingConfig,
    /** How the API and the log name a batch's destination. */
    private readonly describe: (target: ForwardTarget) => Promise<string>,
  ) {}

  private get leaseMs(): number {
    return this.options.leaseMs ?? DEFAULT_LEASE_MS;
  }

  /** Starts the worker; batches a crash left half sent are due at once. */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    // Alone, every SENDING batch was this process's, cut off by a stop: sent again at once. Shared, another
    // process may be sending it: a batch whose sender died is taken over when its lease runs out.
    const reset = this.options.shared ? 0 : await this.store.resetSendingForwardingTransactions(Date.now());
    this.leases = setInterval(() => {
      const ids = [...this.inFlight.keys()];
      if (ids.length)
        void this.store
          .renewForwardingLeases(ids, Date.now() + this.leaseMs)
          .catch((err: Error) => log.warn({ err }, 'renewing forwarding leases'));
    }, this.leaseMs / 3);
    this.leases.unref();
    if (reset)
      void this.deps.log.write({
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
    clearInterval(this.leases);
    await this.ticking;
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
    this.timer = setTimeout(() => this.startTick(), ms);
    this.timer.unref();
  }

  private startTick(): void {
    if (!this.running) return;
    if (this.ticking) {
      this.tickAgain = true;
      return;
    }
    this.ticking = this.tick().finally(() => {
      this.ticking = undefined;
      if (this.running) this.schedule(this.tickAgain ? 0 : this.tickMs);
      this.tickAgain = false;
    });
  }

  private async tick(): Promise<void> {
    try {
      const room = this.options.concurrency - this.inFlight.size;
      if (room > 0) {
        const now = Date.now();
        for (const t of await this.store.claimDueForwardingTransactions(
          now,
          now - this.options.quietMs,
          room,
          now + this.leaseMs,
        )) {
          const delivery = this.deliver(t)
            .catch((err: Error) => log.error({ transaction: t.id, err }, 'forwarding transaction failed'))
            .finally(() => {
              this.inFlight.delete(t.id);
              this.kick();
            });
          this.inFlight.set(t.id, delivery);
        }
      }
      if (Date.now() - this.boxesCheckedAt >= Math.min(1000, Math.max(this.tickMs, this.options.quietMs))) {
        this.boxesCheckedAt = Date.now();
        await this.settleBoxDeliveries();
      }
    } catch (err) {
      log.error({ err }, 'forwarding worker');
    }
  }

  private async resolve(target: Exclude<ForwardTarget, { kind: 'box' }>): Promise<DicomPeer> {
    if (target.kind === 'dicom') return target;
    const scu = await this.store.scu(target.scuId);
    if (!scu) throw new PermanentError('FORWARD.NO_DESTINATION', `SCU ${target.scuId} no longer exists`, 400);
    return scuPeer(scu);
  }

  private async deliver(t: ForwardingTransaction): Promise<void> {
    const destination = await this.describe(t.target);
    if (t.target.kind === 'box') {
      try {
        await this.handToBox(t, t.target.boxId, destination);
      } catch (err) {
        await this.failed(t, destination, err as Error);
      }
      return;
    }
    const items = await this.store.forwardingItems(t.id, true);
    let sent = 0;
    try {
      const peer = await this.resolve(t.target);
      const { blobs } = this.deps;
      const paths: StoredObject[] = [];
      const gone: string[] = [];
      for (const item of items) {
        const key = item.sopInstanceUid;
        if (await blobs.exists(key)) paths.push(storedObject(blobs, key));
        else gone.push(item.sopInstanceUid);
      }
      await this.skipGone(t, destination, gone);
      const failures: SendResult[] = [];
      let delivered: string[] = [];
      // Marks are written one after the other, each with the results that came while the one before was
      // written: an instance is marked soon after its answer (a sender killed in between sends it again,
      // when its batch is taken over), and a fast peer's answers still share commits.
      let marking: Promise<void> = Promise.resolve();
      let markPending = false;
      const mark = () => {
        if (!delivered.length || markPending) return marking;
        markPending = true;
        marking = marking.then(() => {
          markPending = false;
          const batch = delivered;
          delivered = [];
          return batch.length ? this.store.markForwardingItemsSent(t.id, batch) : undefined;
        });
        return marking;
      };
      try {
        if (paths.length)
          await this.deps.sender.send(peer, paths, (r) => {
            if (!r.stored) return void failures.push(r);
            delivered.push(r.sopInstanceUid);
            void mark().catch(() => undefined);
          });
      } finally {
        await mark();
      }
      if (failures.length) throw failedSendError(peer, paths.length, failures);
      sent = paths.length;
    } catch (err) {
      await this.failed(t, destination, err as Error);
      return;
    }
    await this.delivered(t, destination, sent);
  }

  /** Instances deleted since they were queued count as done, with a warning. */
  private async skipGone(t: ForwardingTransaction, destination: string, gone: string[]): Promise<void> {
    if (!gone.length) return;
    await this.store.markForwardingItemsSent(t.id, gone);
    void this.deps.log.write({
      subject: SUBJECT,
      type: 'WARN',
      message: `${gone.length} instance(s) of forwarding transaction ${t.id} were deleted before they could be sent to ${destination}: ${gone.slice(0, 5).join(', ')}${gone.length > 5 ? ', …' : ''}`,
    });
  }

  /**
   * A box batch becomes one outgoing box transaction of the images that still exist. Creating it, recording
   * its id here and moving the batch to DELIVERING happen in one state store transaction (boxes and the
   * outbox share the state store; `transaction`), so a crash leaves either no box transaction, and the batch
   * goes out again from SENDING, or one that is recorded, and the batch waits for it: never two.
   */
  private async handToBox(t: ForwardingTransaction, boxId: number, destination: string): Promise<void> {
    const { boxes, index, blobs } = this.deps;
    if (!boxes || (await boxes.boxName(boxId)) === undefined)
      throw new PermanentError('FORWARD.NO_DESTINATION', `box ${boxId} no longer exists`, 400);
    const present: ForwardingItem[] = [];
    const gone: string[] = [];
    for (const item of await this.store.forwardingItems(t.id, true)) {
      const image = await index.image(item.imageId);
      const there = image?.sopInstanceUID.value === item.sopInstanceUid;
      if (there && (await blobs.exists(item.sopInstanceUid))) present.push(item);
      else gone.push(item.sopInstanceUid);
    }
    await this.skipGone(t, destination, gone);
    if (!present.length) return this.delivered(t, destination, 0);
    const outgoing = await this.store.transaction(async (tx) => {
      const created = await boxes.sendWithDefaultProfile(
        boxId,
        present.map((i) => i.imageId),
        tx,
      );
      await tx.setForwardingBoxTransaction(t.id, created.id);
      await tx.setForwardingStatus(t.id, { status: 'DELIVERING' });
      return created;
    });
    await this.deps.log.write({
      subject: SUBJECT,
      type: 'INFO',
      message: `Forwarding transaction ${t.id}: ${present.length} instance(s) handed to ${destination} as outgoing transaction ${outgoing.id}`,
    });
  }

  /**
   * Batches handed to a box whose outgoing transaction has ended: FINISHED is delivered; FAILED, or deleted
   * (by hand, or with its box), dead-letters the batch with what was not sent (a retry makes a new box
   * transaction of those). Images the box sent are marked sent either way.
   */
  private async settleBoxDeliveries(): Promise<void> {
    const boxes = this.deps.boxes;
    let delivered = false;
    for (const t of await this.store.deliveringForwardingTransactions()) {
      const outgoing =
        t.boxTransactionId === null ? undefined : await boxes?.outgoingTransaction(t.boxTransactionId);
      if (outgoing?.status === 'WAITING' || outgoing?.status === 'PROCESSING') continue;
      const destination = await this.describe(t.target);
      const images = outgoing ? await boxes!.outgoingImages(outgoing.id) : [];
      const sentIds = new Set(images.filter((i) => i.status === 'SENT').map((i) => i.imageId));
      const sent = (await this.store.forwardingItems(t.id, true))
        .filter((i) => sentIds.has(i.imageId))
        .map((i) => i.sopInstanceUid);
      await this.store.markForwardingItemsSent(t.id, sent);
      if (outgoing?.status === 'FINISHED') {
        await this.finish(t, destination, sent.length);
        delivered = true;
        continue;
      }
      const failed = images.filter((i) => i.status === 'FAILED');
      const reason = outgoing
        ? `outgoing transaction ${outgoing.id} of ${destination} FAILED: ${failed.length} of ${outgoing.totalImageCount} image(s) not sent${failed[0] ? ` (image ${failed[0].imageId}: ${failed[0].message ?? 'failed'}${failed.length > 1 ? '; …' : ''})` : ''}`
        : `outgoing transaction ${t.boxTransactionId} of ${destination} was deleted before it ended`;
      await this.failed(t, destination, new PermanentError('FORWARD.BOX_FAILED', reason, 502), true);
    }
    if (delivered) void this.deleteForwardedImages();
  }

  private async delivered(t: ForwardingTransaction, destination: string, sent: number): Promise<void> {
    await this.finish(t, destination, sent);
    await this.deleteForwardedImages();
  }

  /** Removes a delivered batch; keepImages=false marks its images for deletion first. */
  private async finish(t: ForwardingTransaction, destination: string, sent: number): Promise<void> {
    log.info(
      { transaction: t.id, destination, instances: sent, failedAttempts: t.attempts },
      'forwarding batch delivered',
    );
    await this.store.transaction(async (tx) => {
      if (!t.keepImages)
        await tx.markImagesForDeletion((await tx.forwardingItems(t.id, false)).map((i) => i.imageId));
      await tx.deleteForwardingTransaction(t.id);
    });
    void this.deps.log.write({
      subject: SUBJECT,
      type: 'INFO',
      message: `Forwarding transaction ${t.id}: ${sent} instance(s) delivered to ${destination}${t.attempts ? ` after ${t.attempts} failed attempt(s)` : ''}`,
    });
  }

  /** keepImages=false: files first, then the index rows (as `DELETE /api/images` does). */
  async deleteForwardedImages(): Promise<void> {
    const { index, blobs, log } = this.deps;
    const ids = await this.store.deletableImages();
    if (!ids.length) return;
    try {
      const images = await deleteStoredImages(index, blobs, ids);
      await this.store.forgetDeletions(ids);
      await log.write({
        subject: SUBJECT,
        type: 'INFO',
        message: `Deleted ${images.length} forwarded image(s) (keepImages=false)`,
      });
    } catch (err) {
      await log.write({
        subject: SUBJECT,
        type: 'ERROR',
        message: `Cannot delete forwarded images ${ids.join(', ')}: ${(err as Error).message}`,
      });
    }
  }

  /**
   * A failed attempt: RETRY with backoff, or FAILED (dead letters). `leaveBox`: the batch's box transaction
   * is forgotten in the same state store transaction (a retry makes a new one).
   */
  private async failed(
    t: ForwardingTransaction,
    destination: string,
    err: Error,
    leaveBox = false,
  ): Promise<void> {
    const attempts = t.attempts + 1;
    const max = this.options.maxAttempts;
    const left = (await this.store.forwardingItems(t.id, true)).length;
    const setStatus = async (change: Parameters<ForwardingStore['setForwardingStatus']>[1]) =>
      await this.store.transaction(async (tx) => {
        if (leaveBox) await tx.setForwardingBoxTransaction(t.id, null);
        await tx.setForwardingStatus(t.id, change);
      });
    log.warn(
      {
        transaction: t.id,
        destination,
        instances: left,
        attempt: attempts,
        maxAttempts: max,
        reason: err.message,
      },
      'forwarding batch failed',
    );
    if (err instanceof PermanentError || attempts >= max) {
      await setStatus({ status: 'FAILED', attempts, lastError: err.message });
      void this.deps.log.write({
        subject: SUBJECT,
        type: 'ERROR',
        message: `Forwarding transaction ${t.id}: ${left} instance(s) to ${destination} moved to the dead letters after ${attempts} attempt(s): ${err.message}`,
      });
      return;
    }
    const delay = Math.min(this.options.retryMaxMs, this.options.retryBaseMs * 2 ** (attempts - 1));
    await setStatus({
      status: 'RETRY',
      attempts,
      nextAttemptAt: Date.now() + delay,
      lastError: err.message,
    });
    void this.deps.log.write({
      subject: SUBJECT,
      type: 'WARN',
      message: `Forwarding transaction ${t.id}: attempt ${attempts} of ${max} to send ${left} instance(s) to ${destination} failed: ${err.message}; next attempt in ${delay < 1000 ? `${delay} ms` : `${(delay / 1000).toFixed(delay % 1000 ? 1 : 0)} s`}`,
    });
  }
}
