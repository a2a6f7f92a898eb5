/**
 * The serving side of the box protocol (`/api/transactions/{token}/…`, Slicebox §5.4): what a remote PUSH
 * box calls on our POLL boxes. The token authenticates; pushed images are received idempotently; queued
 * images are handed out, anonymized and deflated on the way, and marked done or failed as the remote says.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Readable } from 'node:stream';
import { BadRequestError, NotFoundError, SluiceError } from '../errors.js';
import type { BoxRow, TransactionStatus } from './store.js';
import type { BoxService } from './service.js';
import { deflateStream, outgoingImageJson, outgoingTransactionJson } from './wire.js';

const STATUSES: readonly TransactionStatus[] = ['WAITING', 'PROCESSING', 'FINISHED', 'FAILED'];
const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest();

export class BoxServing {
  constructor(private readonly boxes: BoxService) {}

  /** The POLL box a token belongs to; every box's token is compared, in constant time, whatever matches. */
  authenticate(token: string): BoxRow {
    const presented = sha256(token);
    let found: BoxRow | undefined;
    for (const box of this.boxes.store.pollBoxes())
      if (timingSafeEqual(sha256(box.token), presented) && !found) found = box;
    if (!found) throw new SluiceError('BOX.UNKNOWN_TOKEN', 'No box found for this token', 401);
    return found;
  }

  /**
   * A pushed image (deflated body): idempotent per transaction and sequence number. Resolves once stored
   * (or received before); rejects with a 400 when the pipeline refused the file (the sender marks the
   * image FAILED), with a 5xx when it could not take it now (the sender retries).
   */
  async receivePushed(
    box: BoxRow,
    params: { transactionId: number; sequenceNumber: number; totalImageCount: number },
    body: Readable,
  ): Promise<void> {
    const { transactionId, sequenceNumber, totalImageCount } = params;
    if (totalImageCount < 1 || sequenceNumber < 1 || sequenceNumber > totalImageCount)
      throw new BadRequestError(
        `sequencenumber must be in 1..totalimagecount, got ${sequenceNumber} of ${totalImageCount}`,
      );
    const transaction = this.boxes.store.ensureIncomingTransaction(
      box,
      transactionId,
      totalImageCount,
      this.boxes.now(),
    );
    if (this.boxes.store.incomingImage(transaction.id, sequenceNumber)?.status === 'RECEIVED') {
      body.resume();
      return;
    }
    const receipt = await this.boxes.receiver.receive(box, transaction, sequenceNumber, body);
    if (receipt.kind === 'failed') throw receipt.error;
  }

  /** GET status: the incoming transaction for the sender's outgoing id. */
  incomingStatus(box: BoxRow, transactionId: number): TransactionStatus {
    const t = this.boxes.store.incomingTransactionFor(box.id, transactionId);
    if (!t) throw new NotFoundError(`incoming transaction for outgoing transaction ${transactionId}`);
    return t.status;
  }

  /** PUT status: the sender says its transaction is over (FINISHED or FAILED). */
  setIncomingStatus(box: BoxRow, transactionId: number, status: string): void {
    if (!(STATUSES as readonly string[]).includes(status))
      throw new BadRequestError(`Invalid status "${status}"; expected one of ${STATUSES.join(', ')}`);
    const t = this.boxes.store.incomingTransactionFor(box.id, transactionId);
    if (!t) throw new NotFoundError(`incoming transaction for outgoing transaction ${transactionId}`);
    this.boxes.store.setIncomingStatus(t.id, status as TransactionStatus, this.boxes.now());
  }

  /** The next images the remote PUSH box should fetch from us; records the poll (the box is online). */
  poll(box: BoxRow, n: number) {
    const now = this.boxes.now();
    this.boxes.store.recordPoll(box.id, true, now);
    const items = this.boxes.store.nextOutgoingImages(box.id, n, now);
    for (const id of new Set(items.map((i) => i.transaction.id))) this.boxes.store.touchOutgoing(id, now);
    return items.map(({ transaction, image }) => ({
      transaction: outgoingTransactionJson(transaction),
      image: outgoingImageJson(image),
    }));
  }

  private outgoingOfBox(box: BoxRow, transactionId: number, imageId: number) {
    const image = this.boxes.store.outgoingImage(imageId);
    const transaction = image && this.boxes.store.outgoingTransaction(image.outgoingTransactionId);
    if (!image || !transaction || transaction.id !== transactionId || transaction.boxId !== box.id)
      throw new NotFoundError(
        `No outgoing image found for transaction id ${transactionId} and outgoing image id ${imageId}`,
      );
    return { image, transaction };
  }

  /**
   * An outgoing image for the remote to fetch: anonymized with the transaction's profile and tag values,
   * deflated, streamed. An image that cannot be made (deleted, unreadable) is FAILED here, with its reason,
   * and answered 404 so the remote moves on.
   */
  async outgoingImageStream(box: BoxRow, transactionId: number, imageId: number): Promise<Readable> {
    const { image, transaction } = this.outgoingOfBox(box, transactionId, imageId);
    if (image.status === 'FAILED')
      throw new SluiceError('BOX.IMAGE_FAILED', `outgoing image ${image.id} failed: ${image.message}`, 404);
    try {
      const bytes = await this.boxes.anonymizedImage(
        image.imageId,
        transaction.profile,
        this.boxes.store.outgoingTagValues(image.id),
        box.id,
      );
      this.boxes.store.touchOutgoing(transaction.id, this.boxes.now());
      return deflateStream(bytes);
    } catch (err) {
      if (err instanceof SluiceError && err.httpStatus === 404)
        this.boxes.store.markOutgoingFailed(image.id, err.message, this.boxes.now());
      throw err;
    }
  }

  /** The remote stored the image (idempotent; an image already FAILED stays FAILED). */
  markDone(box: BoxRow, body: unknown): void {
    const { image } = this.outgoingOfBox(box, ...transactionImageIds(body, 'body'));
    this.boxes.store.markOutgoingSent(image.id, this.boxes.now());
  }

  /** The remote could not store the image: FAILED with its message. */
  markFailed(box: BoxRow, body: unknown): void {
    const failed = body as { transactionImage?: unknown; message?: unknown } | null;
    const ids = transactionImageIds(failed?.transactionImage, 'transactionImage');
    const { image } = this.outgoingOfBox(box, ...ids);
    const message =
      typeof failed?.message === 'string' && failed.message
        ? failed.message.slice(0, 2000)
        : 'no reason given';
    this.boxes.store.markOutgoingFailed(image.id, `refused by ${box.name}: ${message}`, this.boxes.now());
  }
}

/** `[transactionId, imageId]` from an `OutgoingTransactionImage` the remote echoes back. */
function transactionImageIds(value: unknown, field: string): [number, number] {
  const v = value as { transaction?: { id?: unknown }; image?: { id?: unknown } } | null;
  const t = v?.transaction?.id;
  const i = v?.image?.id;
  if (typeof t !== 'number' || typeof i !== 'number')
    throw new BadRequestError(
      `${field} must be an OutgoingTransactionImage ({transaction: {id}, image: {id}})`,
    );
  return [t, i];
}
