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
  async authenticate(token: string): Promise<BoxRow> {
    const presented = sha256(token);
    let found: BoxRow | undefined;
    for (const box of await this.boxes.store.pollBoxes())
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
    const transaction = await this.boxes.store.ensureIncomingTransaction(
      box,
      transactionId,
      totalImageCount,
      this.boxes.now(),
    );
    if ((await this.boxes.store.incomingImage(transaction.id, sequenceNumber))?.status === 'RECEIVED') {
      body.resume();
      return;
    }
    const receipt = await this.boxes.receiver.receive(box, transaction, sequenceNumber, body);
    if (receipt.kind === 'failed') throw receipt.error;
  }

  /** GET status: the incoming transaction for the sender's outgoing id. */
  async incomingStatus(box: BoxRow, transactionId: number): Promise<TransactionStatus> {
    const t = await this.boxes.store.incomingTransactionFor(box.id, transactionId);
    if (!t) throw new NotFoundError(`incoming transaction for outgoing transaction ${transactionId}`);
    return t.status;
  }

  /** PUT status: the sender says its transaction is over (FINISHED or FAILED). */
  async setIncomingStatus(box: BoxRow, transactionId: number, status: string): Promise<void> {
    if (!(STATUSES as readonly string[]).includes(status))
      throw new BadRequestError(`Invalid status "${status}"; expected one of ${STATUSES.join(', ')}`);
    const t = await this.boxes.store.incomingTransactionFor(box.id, transactionId);
    if (!t) throw new NotFoundError(`incoming transaction for outgoing transaction ${transactionId}`);
    await this.boxes.store.setIncomingStatus(t.id, status as TransactionStatus, this.boxes.now());
  }

  /** The next images the remote PUSH box should fetch from us; records the poll (the box is online). */
  async poll(box: BoxRow, n: number) {
    const now = this.boxes.now();
    await this.boxes.store.recordPoll(box.id, true, now);
    // Handed out and their transactions made PROCESSING in one step (PostgreSQL: row locks).
    const items = await this.boxes.store.takeOutgoingImages(box.id, n, now);
    return items.map(({ transaction, image }) => ({
      transaction: outgoingTransactionJson(transaction),
      image: outgoingImageJson(image),
    }));
  }

  private async outgoingOfBox(box: BoxRow, transactionId: number, imageId: number) {
    const image = await this.boxes.store.outgoingImage(imageId);
    const transaction = image && (await this.boxes.store.outgoingTransaction(image.outgoingTransactionId));
    if (!image || !transaction || transaction.id !== transactionId || transaction.boxId !== box.id)
      throw noOutgoingImage(transactionId, imageId);
    return { image, transaction };
  }

  /**
   * An outgoing image for the remote to fetch: anonymized with the transaction's profile and tag values,
   * deflated, streamed. An image that cannot be made (deleted, unreadable) is FAILED here, with its reason,
   * and answered 404 so the remote moves on.
   */
  async outgoingImageStream(box: BoxRow, transactionId: number, imageId: number): Promise<Readable> {
    const { image, transaction } = await this.outgoingOfBox(box, transactionId, imageId);
    if (image.status === 'FAILED')
      throw new SluiceError('BOX.IMAGE_FAILED', `outgoing image ${image.id} failed: ${image.message}`, 404);
    try {
      const bytes = await this.boxes.anonymizedImage(
        image.imageId,
        transaction.profile,
        await this.boxes.store.outgoingTagValues(image.id),
        box.id,
      );
      await this.boxes.store.touchOutgoing(transaction.id, this.boxes.now());
      return deflateStream(bytes);
    } catch (err) {
      if (err instanceof SluiceError && err.httpStatus === 404)
        await this.boxes.store.markOutgoingFailed(image.id, err.message, this.boxes.now());
      throw err;
    }
  }

  /** The remote stored the image (idempotent; an image already FAILED stays FAILED). */
  async markDone(box: BoxRow, body: unknown): Promise<void> {
    const [transactionId, imageId] = transactionImageIds(body, 'body');
    // Checked and marked in one step: the image cannot change hands in between.
    const reported = await this.boxes.store.reportOutgoingImage(
      box.id,
      transactionId,
      imageId,
      { status: 'SENT' },
      this.boxes.now(),
    );
    if (!reported) throw noOutgoingImage(transactionId, imageId);
  }

  /** The remote could not store the image: FAILED with its message. */
  async markFailed(box: BoxRow, body: unknown): Promise<void> {
    const failed = body as { transactionImage?: unknown; message?: unknown } | null;
    const ids = transactionImageIds(failed?.transactionImage, 'transactionImage');
    const message =
      typeof failed?.message === 'string' && failed.message
        ? failed.message.slice(0, 2000)
        : 'no reason given';
    const reported = await this.boxes.store.reportOutgoingImage(
      box.id,
      ...ids,
      { status: 'FAILED', message: `refused by ${box.name}: ${message}` },
      this.boxes.now(),
    );
    if (!reported) throw noOutgoingImage(...ids);
  }
}

const noOutgoingImage = (transactionId: number, imageId: number) =>
  new NotFoundError(
    `No outgoing image found for transaction id ${transactionId} and outgoing image id ${imageId}`,
  );

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
