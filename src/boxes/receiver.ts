/**
 * The receiving side of boxes: an image received from a box (pushed to one of our POLL boxes, serving.ts,
 * or pulled by a PUSH box's worker, worker.ts) goes through the pipeline of the running `box_incoming`
 * source like any other input, and how it ended is recorded in its incoming transaction once it is settled.
 */
import type { Readable } from 'node:stream';
import { SluiceError } from '../errors.js';
import type { Outcome } from '../pipeline/outcome.js';
import type { BoxTimings } from '../config.js';
import type { BoxRow, BoxStore, IncomingTransaction } from './store.js';
import { inflateStream } from './wire.js';

/** What the pipeline's `box_incoming` source offers: lands a received body and resolves when settled. */
export interface BoxIngest {
  receive(box: BoxRow, body: Readable, detail: string): Promise<Outcome>;
}

/** How one received image ended, for the transaction's bookkeeping. */
export type Receipt = { kind: 'received' } | { kind: 'failed'; error: SluiceError };

export class BoxReceiver {
  private ingest: BoxIngest | undefined;

  constructor(
    private readonly store: BoxStore,
    private readonly timings: Pick<BoxTimings, 'maxImageBytes'>,
    private readonly now: () => number,
  ) {}

  /** The running pipeline's `box_incoming` source attaches here; answers the detach function. */
  attach(ingest: BoxIngest): () => void {
    if (this.ingest) throw new Error('only one box_incoming source may run at a time');
    this.ingest = ingest;
    return () => {
      if (this.ingest === ingest) this.ingest = undefined;
    };
  }

  /** Whether a `box_incoming` source is attached to take received images. */
  get attached(): boolean {
    return this.ingest !== undefined;
  }

  /** Runs one received body through the pipeline and records the outcome in the incoming transaction. */
  async receive(
    box: BoxRow,
    transaction: IncomingTransaction,
    sequenceNumber: number,
    compressed: Readable,
  ): Promise<Receipt> {
    const ingest = this.ingest;
    if (!ingest) {
      compressed.resume();
      throw new SluiceError(
        'ENGINE.NO_BOX_INCOMING',
        'no running pipeline has a box_incoming source to take box transfers',
        503,
      );
    }
    const detail = `box ${box.id} transaction ${transaction.outgoingTransactionId} image ${sequenceNumber}`;
    const outcome = await ingest.receive(box, inflateStream(compressed, this.timings.maxImageBytes), detail);
    const record = async (fields: { imageId: number | null; added: boolean; failed?: string }) =>
      await this.store.recordIncomingImage(
        {
          incomingTransactionId: transaction.id,
          sequenceNumber,
          imageId: fields.imageId,
          added: fields.added,
          status: fields.failed === undefined ? 'RECEIVED' : 'FAILED',
          message: fields.failed ?? null,
        },
        this.now(),
      );
    if (outcome.kind === 'ack') {
      const indexed = outcome.envelope.facts.indexed;
      await record({ imageId: indexed?.image.id ?? null, added: indexed?.created === true });
      return { kind: 'received' };
    }
    if (outcome.kind === 'drop') {
      await record({ imageId: null, added: false });
      return { kind: 'received' };
    }
    const status = outcome.error.httpStatus;
    if (status >= 400 && status < 500) {
      await record({ imageId: null, added: false, failed: outcome.error.message });
      return { kind: 'failed', error: outcome.error };
    }
    throw outcome.error;
  }
}
