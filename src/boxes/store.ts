/**
 * The boxes part of the state store: boxes and their outgoing and incoming transactions.
 * Adapter: sqlite-store.ts.
 */

export type BoxSendMethod = 'PUSH' | 'POLL';

/** Slicebox's transaction statuses (UNKNOWN only as a parse fallback, never stored). */
export type TransactionStatus = 'WAITING' | 'PROCESSING' | 'FINISHED' | 'FAILED';

/** A box as stored; the API answers it as Slicebox's `Box` (see BoxService). */
export interface BoxRow {
  id: number;
  name: string;
  /** POLL: the token remote PUSH boxes present; PUSH: the remote's token (last segment of baseUrl). */
  token: string;
  /** POLL: the URL handed to the other side; PUSH: the remote's transactions URL. */
  baseUrl: string;
  sendMethod: BoxSendMethod;
  /** Option names of the default anonymization profile. */
  defaultProfile: string[];
  /** ms epoch of the last successful poll (POLL: the remote polled us; PUSH: we polled the remote). */
  lastPollAt: number | null;
  /** PUSH: whether our last poll of the remote succeeded. */
  lastPollOk: boolean;
}

/** Slicebox's `OutgoingTransaction`, plus the number of images that failed for good. */
export interface OutgoingTransaction {
  id: number;
  boxId: number;
  boxName: string;
  /** Option names of the profile the images are anonymized with. */
  profile: string[];
  sentImageCount: number;
  failedImageCount: number;
  totalImageCount: number;
  created: number;
  updated: number;
  status: TransactionStatus;
}

export type OutgoingImageStatus = 'WAITING' | 'SENT' | 'FAILED';

/** Slicebox's `OutgoingImage` (`sent`), plus our per-image status, failure reason and retry bookkeeping. */
export interface OutgoingImage {
  id: number;
  outgoingTransactionId: number;
  imageId: number;
  sequenceNumber: number;
  sent: boolean;
  status: OutgoingImageStatus;
  /** Why the image failed (FAILED), or the last transient error (WAITING, being retried). */
  message: string | null;
  attempts: number;
  nextAttemptAt: number;
}

/** A root tag value applied on top of the profile (Slicebox's `OutgoingTagValue`). */
export interface BoxTagValue {
  tag: number;
  value: string;
}

/** Slicebox's `IncomingTransaction`, plus the number of images the pipeline rejected. */
export interface IncomingTransaction {
  id: number;
  boxId: number;
  boxName: string;
  /** The sender's outgoing transaction id. */
  outgoingTransactionId: number;
  receivedImageCount: number;
  addedImageCount: number;
  failedImageCount: number;
  totalImageCount: number;
  created: number;
  updated: number;
  status: TransactionStatus;
}

export interface IncomingImage {
  incomingTransactionId: number;
  sequenceNumber: number;
  /** The stored image (null when the pipeline dropped it on purpose, or it failed). */
  imageId: number | null;
  added: boolean;
  status: 'RECEIVED' | 'FAILED';
  message: string | null;
}

export interface BoxStore {
  listBoxes(startIndex: number, count: number): BoxRow[];
  box(id: number): BoxRow | undefined;
  boxByName(name: string): BoxRow | undefined;
  /** Every POLL box (their tokens authenticate the transaction routes). */
  pollBoxes(): BoxRow[];
  insertBox(box: Omit<BoxRow, 'id' | 'lastPollAt' | 'lastPollOk'>): BoxRow;
  /** Deletes the box with its transactions; false when unknown. */
  deleteBox(id: number): boolean;
  recordPoll(id: number, ok: boolean, at: number): void;

  /** Creates a WAITING transaction with images numbered 1..N, atomically. */
  insertOutgoingTransaction(
    box: BoxRow,
    profile: string[],
    images: Array<{ imageId: number; tagValues: BoxTagValue[] }>,
    now: number,
  ): OutgoingTransaction;
  listOutgoingTransactions(startIndex: number, count: number): OutgoingTransaction[];
  outgoingTransaction(id: number): OutgoingTransaction | undefined;
  deleteOutgoingTransaction(id: number): boolean;
  outgoingImages(transactionId: number): OutgoingImage[];
  outgoingImage(id: number): OutgoingImage | undefined;
  outgoingTagValues(outgoingImageId: number): BoxTagValue[];
  /**
   * The next WAITING images of the box's unfinished transactions whose retry time has come, oldest
   * transaction first, then by sequence number.
   */
  nextOutgoingImages(
    boxId: number,
    count: number,
    now: number,
  ): Array<{ transaction: OutgoingTransaction; image: OutgoingImage }>;
  /** The earliest retry time among the box's WAITING images, if any. */
  nextOutgoingAttemptAt(boxId: number): number | undefined;
  /** WAITING → SENT (a second call is a no-op); finalizes the transaction when no image waits. */
  markOutgoingSent(imageId: number, now: number): OutgoingTransaction | undefined;
  /** WAITING → FAILED with the reason; finalizes the transaction when no image waits. */
  markOutgoingFailed(imageId: number, message: string, now: number): OutgoingTransaction | undefined;
  /** Records a transient failure: the image stays WAITING until `nextAttemptAt`. */
  deferOutgoing(imageId: number, message: string, nextAttemptAt: number, now: number): void;
  /** WAITING → PROCESSING when images of the transaction are on their way. */
  touchOutgoing(transactionId: number, now: number): void;
  /** Finished or failed transactions of a PUSH box whose final status the remote has not acknowledged. */
  outgoingAwaitingRemoteStatus(boxId: number): OutgoingTransaction[];
  clearRemoteStatusPending(transactionId: number): void;

  /** The incoming transaction for the sender's outgoing id, created WAITING on first sight. */
  ensureIncomingTransaction(
    box: BoxRow,
    outgoingTransactionId: number,
    totalImageCount: number,
    now: number,
  ): IncomingTransaction;
  incomingTransactionFor(boxId: number, outgoingTransactionId: number): IncomingTransaction | undefined;
  incomingImage(incomingTransactionId: number, sequenceNumber: number): IncomingImage | undefined;
  /**
   * Records one image of an incoming transaction (a retried sequence number updates its row unless it was
   * already received) and recounts; FINISHED (or FAILED) once every image is accounted for.
   */
  recordIncomingImage(
    image: Omit<IncomingImage, 'incomingTransactionId'> & { incomingTransactionId: number },
    now: number,
  ): IncomingTransaction;
  setIncomingStatus(id: number, status: TransactionStatus, now: number): void;
  listIncomingTransactions(startIndex: number, count: number): IncomingTransaction[];
  incomingTransaction(id: number): IncomingTransaction | undefined;
  deleteIncomingTransaction(id: number): boolean;
  incomingImageIds(incomingTransactionId: number): number[];
  /** PROCESSING transactions (both ways) not updated since `before` go back to WAITING. */
  revertStaleTransactions(before: number, now: number): number;
}
