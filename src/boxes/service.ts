/**
 * Boxes: Slicebox-to-Slicebox transfer over HTTP (reference/slicebox.md §2.6, §5.4), spoken so that a
 * Sluice and a Slicebox can pair, and sturdier than it:
 *
 * - every outgoing image has a persisted status (WAITING, SENT, FAILED with its reason) and retry time, so
 *   workers resume after a restart where they were, retry transient failures with exponential backoff, and
 *   an image the receiver refuses (400) is FAILED with the receiver's reason instead of counted as sent;
 * - receipt is idempotent: the same transaction and sequence number twice stores nothing twice;
 * - received images go through the pipeline of the `box_incoming` source like any other input (tag filters,
 *   reverse anonymization, storage, index), and are answered only once settled (receiver.ts).
 *
 * Pairing: `createConnection` makes a POLL box (we hand out a URL with a random token; the other side never
 * needs our credentials, we never connect to it); `connect` makes a PUSH box from such a URL. For each PUSH
 * box a BoxWorker pushes our outgoing images to the remote and polls the remote's queue.
 */
import { randomUUID } from 'node:crypto';
import { BadRequestError, NotFoundError, SluiceError } from '../errors.js';
import type { SourceRef } from '../pipeline/origin.js';
import type { BlobStore } from '../storage/blob-store.js';
import type { BoxRow, BoxStore, BoxTagValue, IncomingTransaction, OutgoingTransaction } from './store.js';
import { DEFAULT_BOX_TIMINGS, type BoxTimings } from '../config.js';
import type { Destination } from '../forwarding/store.js';
import type { Image, MetadataIndex, Source } from '../storage/metadata-index.js';
import { normalizeOptions } from '../anonymization/deid/profile.js';
import { boxHttpClient, boxJson, discard, outgoingImageJson, outgoingTransactionJson } from './wire.js';
import { BoxWorker } from './worker.js';
import { BoxServing } from './serving.js';
import { BoxReceiver, type BoxIngest } from './receiver.js';
import { logger } from '../ops/logger.js';

const log = logger('boxes');

/**
 * Anonymizes one instance with a profile (option names) and root tag values, for a transfer; answers the
 * new file as consecutive pieces (the pixel data a view of the input, never copied).
 */
export type BoxAnonymizer = (
  file: Buffer,
  request: { options: string[]; tagValues: BoxTagValue[]; imageId: number },
) => readonly Buffer[] | Promise<readonly Buffer[]>;

export interface BoxServiceOptions {
  /** The API base other sides reach us at (`<public URL>/api`); read when a connection is created. */
  publicApiUrl: () => string;
  timings?: Partial<BoxTimings>;
  now?: () => number;
  /**
   * Several processes run box connections (front ends): each PUSH box's connection runs in the one process
   * that holds it (`owner`, renewed every second by `resync`; taken over when a hold of `holdMs` runs out).
   */
  shared?: { owner: string; holdMs: number };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export class BoxService {
  readonly timings: BoxTimings;
  readonly now: () => number;
  private readonly workers = new Map<number, BoxWorker>();
  private readonly deletedListeners: Array<(source: SourceRef) => void | Promise<void>> = [];
  private housekeeping: NodeJS.Timeout | undefined;
  private started = false;
  /** The protocol's serving side, for `/api/transactions/{token}/…`. */
  readonly serving = new BoxServing(this);
  /** Runs received images (pushed to our POLL boxes, pulled by our PUSH boxes) through the pipeline. */
  readonly receiver: BoxReceiver;

  constructor(
    readonly store: BoxStore,
    private readonly index: MetadataIndex,
    private readonly blobs: BlobStore,
    private readonly anonymizer: BoxAnonymizer | undefined,
    private readonly options: BoxServiceOptions,
  ) {
    this.timings = { ...DEFAULT_BOX_TIMINGS, ...options.timings };
    this.now = options.now ?? Date.now;
    this.receiver = new BoxReceiver(store, this.timings, this.now);
  }

  /** Starts a worker per PUSH box and the status housekeeping. */
  async start(): Promise<void> {
    this.started = true;
    if (this.options.shared) await this.resync();
    else
      for (const box of await this.store.listBoxes(0, Number.MAX_SAFE_INTEGER))
        if (box.sendMethod === 'PUSH') this.startWorker(box);
    this.housekeeping = setInterval(
      () =>
        void this.store
          .revertStaleTransactions(this.now() - this.timings.staleMs, this.now())
          .catch((err: unknown) => log.error({ err }, 'box housekeeping')),
      Math.max(100, Math.floor(this.timings.staleMs / 2)),
    );
    this.housekeeping.unref();
  }

  /** Stops the workers (in-flight requests are aborted; their images stay WAITING) and housekeeping. */
  async stop(): Promise<void> {
    clearInterval(this.housekeeping);
    const workers = [...this.workers.values()];
    this.workers.clear();
    this.started = false;
    await Promise.all(workers.map((w) => w.stop()));
  }

  /** A worker per PUSH box, with its own connections: stopping it aborts what it has in flight. */
  private startWorker(box: BoxRow): void {
    if (!this.started || this.workers.has(box.id)) return;
    const client = boxHttpClient({
      maxSockets: this.timings.parallelism * 2,
      timeoutMs: this.timings.requestTimeoutMs,
    });
    const worker = new BoxWorker(box, this, client);
    this.workers.set(box.id, worker);
    worker.start();
  }

  /** The running pipeline's `box_incoming` source attaches here; answers the detach function. */
  attach(ingest: BoxIngest): () => void {
    const detach = this.receiver.attach(ingest);
    for (const worker of this.workers.values()) worker.wake();
    return detach;
  }

  /** Called with every deleted box (its tag filter associations go with it). */
  onSourceDeleted(listener: (source: SourceRef) => void | Promise<void>): void {
    this.deletedListeners.push(listener);
  }

  // ------------------------------------------------------------------------------------------- boxes

  online(box: BoxRow): boolean {
    if (box.lastPollAt === null) return false;
    const recent = this.now() - box.lastPollAt <= this.timings.onlineWindowMs;
    return box.sendMethod === 'POLL' ? recent : recent && box.lastPollOk;
  }

  /** Slicebox's `Box` JSON for one page of boxes. */
  async listBoxes(startIndex: number, count: number): Promise<Array<ReturnType<typeof boxJson>>> {
    return (await this.store.listBoxes(startIndex, count)).map((b) => boxJson(b, this.online(b)));
  }

  /** Every box as Slicebox's `Box`. */
  list(): Promise<Array<ReturnType<typeof boxJson>>> {
    return this.listBoxes(0, Number.MAX_SAFE_INTEGER);
  }

  /** Every box as a Slicebox `Destination` (`/api/destinations`; forwarding rules may target one). */
  async destinations(): Promise<Destination[]> {
    return (await this.store.listBoxes(0, Number.MAX_SAFE_INTEGER)).map((b) => ({
      destinationType: 'box' as const,
      destinationName: b.name,
      destinationId: b.id,
    }));
  }

  /** Every box as a source (`/api/sources`). */
  async sources(): Promise<Source[]> {
    return (await this.list()).map((b) => ({
      sourceType: 'box' as const,
      sourceName: b.name,
      sourceId: b.id,
    }));
  }

  async box(id: number, store: BoxStore = this.store): Promise<BoxRow> {
    const box = await store.box(id);
    if (!box) throw new NotFoundError(`box ${id}`);
    return box;
  }

  /**
   * A POLL box: a random token and the URL to hand to the other side. The same name again answers the
   * existing POLL box (Slicebox); a PUSH box of that name is a 400.
   */
  async createConnection(input: { name: string; defaultProfile: string[] }): Promise<BoxRow> {
    const name = input.name.trim();
    if (!name) throw new BadRequestError('box name must not be empty');
    const profile = normalizeOptions(input.defaultProfile, 'defaultProfile.options');
    const existing = await this.store.boxByName(name);
    if (existing) {
      if (existing.sendMethod === 'POLL') return existing;
      throw new BadRequestError(`a PUSH box named "${name}" already exists`);
    }
    const token = randomUUID();
    const baseUrl = `${this.options.publicApiUrl().replace(/\/+$/, '')}/transactions/${token}`;
    return await this.store.insertBox({ name, token, baseUrl, sendMethod: 'POLL', defaultProfile: profile });
  }

  /**
   * A PUSH box from the URL the other side created. The token (the URL's last segment) must be a UUID, and
   * when the remote answers, it must know the token (an unreachable remote is accepted: the box shows
   * offline until a poll succeeds). The same name and URL answer the existing box.
   */
  async connect(input: { name: string; baseUrl: string; defaultProfile: string[] }): Promise<BoxRow> {
    const name = input.name.trim();
    if (!name) throw new BadRequestError('box name must not be empty');
    const profile = normalizeOptions(input.defaultProfile, 'defaultProfile.options');
    let url: URL;
    try {
      url = new URL(input.baseUrl.trim());
    } catch {
      throw new BadRequestError(`baseUrl is not a URL: ${input.baseUrl}`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      throw new BadRequestError(`baseUrl must be an http or https URL, got ${url.protocol}`);
    if (url.search || url.hash) throw new BadRequestError('baseUrl must not have a query or fragment');
    const baseUrl = url.href.replace(/\/+$/, '');
    const token = baseUrl.slice(baseUrl.lastIndexOf('/') + 1);
    if (!UUID.test(token))
      throw new BadRequestError(`the last segment of baseUrl must be a box token (a UUID), got "${token}"`);
    const existing = await this.store.boxByName(name);
    if (existing) {
      if (existing.sendMethod === 'PUSH' && existing.baseUrl === baseUrl) return existing;
      throw new BadRequestError(
        existing.sendMethod === 'PUSH'
          ? `a box named "${name}" already connects to another URL`
          : `a POLL box named "${name}" already exists`,
      );
    }
    await this.probe(baseUrl);
    const box = await this.store.insertBox({
      name,
      token,
      baseUrl,
      sendMethod: 'PUSH',
      defaultProfile: profile,
    });
    // Shared: the process that holds the box runs it (this one, unless another took it first).
    if (this.options.shared)
      void this.resync().catch((err: Error) => log.warn({ err, box: box.id }, 'following boxes'));
    else this.startWorker(box);
    return box;
  }

  /** Asks the remote about a transaction that cannot exist: 401 means the token is wrong. */
  private async probe(baseUrl: string): Promise<void> {
    const client = boxHttpClient({
      maxSockets: 1,
      timeoutMs: Math.min(this.timings.requestTimeoutMs, 10_000),
    });
    try {
      const answer = await client.send(`${baseUrl}/status?transactionid=0`, { method: 'GET' });
      discard(answer);
      if (answer.status === 401)
        throw new BadRequestError(`the remote at ${new URL(baseUrl).host} does not know this box token`);
    } catch (err) {
      if (err instanceof SluiceError) throw err;
      log.warn({ host: new URL(baseUrl).host, err }, 'box connect: remote unreachable for now');
    } finally {
      client.close();
    }
  }

  /**
   * Follows boxes other processes created or deleted (processes sharing the state store): a worker for each
   * PUSH box, none for a box that is gone.
   */
  async resync(): Promise<void> {
    if (!this.started) return;
    const boxes = await this.store.listBoxes(0, Number.MAX_SAFE_INTEGER);
    const shared = this.options.shared;
    const now = this.now();
    const mine = new Set<number>();
    for (const box of boxes.filter((b) => b.sendMethod === 'PUSH'))
      if (!shared || (await this.store.holdBox(box.id, shared.owner, now, now + shared.holdMs))) {
        mine.add(box.id);
        this.startWorker(box);
      }
    // Deleted, or held by another process now (this one's hold ran out): its connection stops here.
    for (const [id, worker] of [...this.workers])
      if (!mine.has(id)) {
        this.workers.delete(id);
        await worker.stop();
      }
  }

  /** Deletes the box with its transactions and stops its worker; idempotent. */
  async deleteBox(id: number): Promise<void> {
    const worker = this.workers.get(id);
    this.workers.delete(id);
    await worker?.stop();
    if (await this.store.deleteBox(id))
      for (const l of this.deletedListeners) await l({ sourceType: 'box', sourceId: id });
  }

  // ------------------------------------------------------------------------------------------ sending

  /** An outgoing transaction (WAITING) with images numbered 1..N, anonymized with `options` on the way. */
  async send(
    boxId: number,
    options: string[],
    images: Array<{ imageId: number; tagValues: BoxTagValue[] }>,
  ): Promise<OutgoingTransaction> {
    await this.outgoingRequest(boxId, options, images); // a bad request is refused before the index is asked
    const found = await Promise.all(images.map((i) => this.index.image(i.imageId)));
    const missing = images.filter((_, n) => !found[n]).map((i) => i.imageId);
    if (missing.length)
      throw new BadRequestError(
        `no image with id ${missing.slice(0, 20).join(', ')}${missing.length > 20 ? ', …' : ''}`,
      );
    // Checked again in the tick that inserts: the box may have been deleted while the index answered.
    return this.createOutgoing(boxId, options, images);
  }

  /**
   * Sends images with the box's default profile and no tag values (what forwarding rules call), through
   * `store`: forwarding passes its state store transaction, so that the outgoing transaction commits with
   * its own writes. The index is not asked (the caller has checked that the images exist).
   */
  async sendWithDefaultProfile(
    boxId: number,
    imageIds: number[],
    store: BoxStore = this.store,
  ): Promise<OutgoingTransaction> {
    const box = await this.box(boxId, store);
    return await this.createOutgoing(
      box.id,
      box.defaultProfile,
      imageIds.map((imageId) => ({ imageId, tagValues: [] })),
      store,
    );
  }

  /** Checks a request to send (all but the images' existence in the index); answers the box and profile. */
  private async outgoingRequest(
    boxId: number,
    options: string[],
    images: Array<{ imageId: number; tagValues: BoxTagValue[] }>,
    store: BoxStore = this.store,
  ): Promise<{ box: BoxRow; profile: string[] }> {
    const box = await this.box(boxId, store);
    if (!this.anonymizer)
      throw new SluiceError('ANONYMIZATION.NOT_WIRED', 'boxes need the anonymization service', 503);
    const profile = normalizeOptions(options, 'profile.options');
    if (!images.length) throw new BadRequestError('imageTagValuesSet must name at least one image');
    const seen = new Set<number>();
    for (const { imageId } of images) {
      if (seen.has(imageId)) throw new BadRequestError(`image ${imageId} is listed twice`);
      seen.add(imageId);
    }
    return { box, profile };
  }

  private async createOutgoing(
    boxId: number,
    options: string[],
    images: Array<{ imageId: number; tagValues: BoxTagValue[] }>,
    store: BoxStore = this.store,
  ): Promise<OutgoingTransaction> {
    const { box, profile } = await this.outgoingRequest(boxId, options, images, store);
    const transaction = await store.insertOutgoingTransaction(box, profile, images, this.now());
    this.workers.get(box.id)?.wake();
    return transaction;
  }

  /**
   * The stored image, anonymized for a transfer. Throws a 404-coded error when it can never be made (gone,
   * unreadable DICOM), a 503-coded one when it might work later.
   */
  async anonymizedImage(
    imageId: number,
    options: string[],
    tagValues: BoxTagValue[],
    /** The box the image goes to. */
    toBoxId: number,
  ): Promise<readonly Buffer[]> {
    if (!this.anonymizer)
      throw new SluiceError('ANONYMIZATION.NOT_WIRED', 'boxes need the anonymization service', 503);
    const image = await this.index.image(imageId);
    if (!image) throw new SluiceError('BOX.IMAGE_GONE', `image ${imageId} no longer exists`, 404);
    const file = await this.readStored(image);
    // Data going back to the box it came from returns as it arrived: the installation behind that box
    // anonymized it and holds the keys that give it back its real identity (Slicebox's round trip).
    // Anything else, de-identified elsewhere or not, gets this transaction's profile.
    const source = await this.index.seriesSource(image.seriesId);
    if (!tagValues.length && source?.sourceType === 'box' && source.sourceId === toBoxId) return [file];
    try {
      return await this.anonymizer(file, { options, tagValues, imageId });
    } catch (err) {
      const permanent = err instanceof SluiceError && err.httpStatus >= 400 && err.httpStatus < 500;
      throw new SluiceError(
        permanent ? 'BOX.ANONYMIZATION_FAILED' : 'BOX.ANONYMIZATION_ERROR',
        `image ${imageId} cannot be anonymized: ${(err as Error).message}`,
        permanent ? 404 : 503,
        { cause: err },
      );
    }
  }

  private async readStored(image: Image): Promise<Buffer> {
    let opened;
    try {
      opened = await this.blobs.open(image.sopInstanceUID.value);
    } catch (err) {
      if (err instanceof NotFoundError)
        throw new SluiceError('BOX.IMAGE_GONE', `the stored file of image ${image.id} is missing`, 404);
      throw err;
    }
    const chunks: Buffer[] = [];
    for await (const chunk of opened.stream) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  // --------------------------------------------------------------------------------- transaction lists

  async listOutgoing(startIndex: number, count: number) {
    return (await this.store.listOutgoingTransactions(startIndex, count)).map(outgoingTransactionJson);
  }

  async outgoing(id: number): Promise<OutgoingTransaction> {
    const t = await this.store.outgoingTransaction(id);
    if (!t) throw new NotFoundError(`outgoing transaction ${id}`);
    return t;
  }

  async deleteOutgoing(id: number): Promise<void> {
    await this.store.deleteOutgoingTransaction(id);
  }

  /** The images of an outgoing transaction that still exist, with each image's transfer status. */
  async outgoingImages(id: number) {
    await this.outgoing(id);
    return (await this.store.outgoingImages(id)).map(outgoingImageJson);
  }

  async listIncoming(startIndex: number, count: number): Promise<IncomingTransaction[]> {
    return await this.store.listIncomingTransactions(startIndex, count);
  }

  async incoming(id: number): Promise<IncomingTransaction> {
    const t = await this.store.incomingTransaction(id);
    if (!t) throw new NotFoundError(`incoming transaction ${id}`);
    return t;
  }

  async deleteIncoming(id: number): Promise<void> {
    await this.store.deleteIncomingTransaction(id);
  }

  /** Ids of the images an incoming transaction stored (whether or not they still exist). */
  async incomingImageIds(id: number): Promise<number[]> {
    await this.incoming(id);
    return await this.store.incomingImageIds(id);
  }
}
