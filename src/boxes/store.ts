/**
 * The boxes part of the state store: boxes and their outgoing and incoming transactions.
 * Adapters: sqlite-store.ts, postgres-store.ts.
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
  listBoxes(startIndex: number, count: number): Promise<BoxRow[]>;
  box(id: number): Promise<BoxRow | undefined>;
  boxByName(name: string): Promise<BoxRow | undefined>;
  /** Every POLL box (their tokens authenticate the transaction routes). */
  pollBoxes(): Promise<BoxRow[]>;
  /**
   * Makes `owner` the one process that runs the box's connection until `until` (ms), or renews it: true
   * when `owner` holds it now (it held it, or the last owner's hold ran out), false when another does.
   */
  holdBox(boxId: number, owner: string, now: number, until: number): Promise<boolean>;
  insertBox(box: Omit<BoxRow, 'id' | 'lastPollAt' | 'lastPollOk'>): Promise<BoxRow>;
  /** Deletes the box with its transactions; false when unknown. */
  deleteBox(id: number): Promise<boolean>;
  recordPoll(id: number, ok: boolean, at: number): Promise<void>;

  /** Creates a WAITING transaction with images numbered 1..N, atomically. */
  insertOutgoingTransaction(
    box: BoxRow,
    profile: string[],
    images: Array<{ imageId: number; tagValues: BoxTagValue[] }>,
    now: number,
  ): Promise<OutgoingTransaction>;
  listOutgoingTransactions(startIndex: number, count: number): Promise<OutgoingTransaction[]>;
  outgoingTransaction(id: number): Promise<OutgoingTransaction | undefined>;
  deleteOutgoingTransaction(id: number): Promise<boolean>;
  outgoingImages(transactionId: number): Promise<OutgoingImage[]>;
  outgoingImage(id: number): Promise<OutgoingImage | undefined>;
  outgoingTagValues(outgoingImageId: number): Promise<BoxTagValue[]>;
  /**
   * The next WAITING images of the box's unfinished transactions whose retry time has come, oldest
   * transaction first, then by sequence number.
   */
  nextOutgoingImages(
    boxId: number,
    count: number,
    now: number,
  ): Promise<Array<{ transaction: OutgoingTransaction; image: OutgoingImage }>>;
  /**
   * What the remote of a POLL box fetches next, in one step: the images `nextOutgoingImages` answers (their
   * transactions as they were), with those transactions made PROCESSING. (PostgreSQL: row locks.)
   */
  takeOutgoingImages(
    boxId: number,
    count: number,
    now: number,
  ): Promise<Array<{ transaction: OutgoingTransaction; image: OutgoingImage }>>;
  /**
   * The remote of a POLL box reports an image, in one step: SENT or FAILED (as markOutgoingSent and
   * markOutgoingFailed) when it is an image of that transaction of that box; undefined, changing nothing,
   * when it is not.
   */
  reportOutgoingImage(
    boxId: number,
    transactionId: number,
    imageId: number,
    report: { status: 'SENT' } | { status: 'FAILED'; message: string },
    now: number,
  ): Promise<OutgoingTransaction | undefined>;
  /** The earliest retry time among the box's WAITING images, if any. */
  nextOutgoingAttemptAt(boxId: number): Promise<number | undefined>;
  /** WAITING → SENT (a second call is a no-op); finalizes the transaction when no image waits. */
  markOutgoingSent(imageId: number, now: number): Promise<OutgoingTransaction | undefined>;
  /** WAITING → FAILED with the reason; finalizes the transaction when no image waits. */
  markOutgoingFailed(imageId: number, message: string, now: number): Promise<OutgoingTransaction | undefined>;
  /** Records a transient failure: the image stays WAITING until `nextAttemptAt`. */
  deferOutgoing(imageId: number, message: string, nextAttemptAt: number, now: number): Promise<void>;
  /** WAITING → PROCESSING when images of the transaction are on their way. */
  touchOutgoing(transactionId: number, now: number): Promise<void>;
  /** Finished or failed transactions of a PUSH box whose final status the remote has not acknowledged. */
  outgoingAwaitingRemoteStatus(boxId: number): Promise<OutgoingTransaction[]>;
  clearRemoteStatusPending(transactionId: number): Promise<void>;

  /** The incoming transaction for the sender's outgoing id, created WAITING on first sight. */
  ensureIncomingTransaction(
    box: BoxRow,
    outgoingTransactionId: number,
    totalImageCount: number,
    now: number,
  ): Promise<IncomingTransaction>;
  incomingTransactionFor(
    boxId: number,
    outgoingTransactionId: number,
  ): Promise<IncomingTransaction | undefined>;
  incomingImage(incomingTransactionId: number, sequenceNumber: number): Promise<IncomingImage | undefined>;
  /**
   * Records one image of an incoming transaction (a retried sequence number updates its row unless it was
   * already received) and recounts; FINISHED (or FAILED) once every image is accounted for.
   */
  recordIncomingImage(
    image: Omit<IncomingImage, 'incomingTransactionId'> & { incomingTransactionId: number },
    now: number,
  ): Promise<IncomingTransaction>;
  setIncomingStatus(id: number, status: TransactionStatus, now: number): Promise<void>;
  listIncomingTransactions(startIndex: number, count: number): Promise<IncomingTransaction[]>;
  incomingTransaction(id: number): Promise<IncomingTransaction | undefined>;
  deleteIncomingTransaction(id: number): Promise<boolean>;
  incomingImageIds(incomingTransactionId: number): Promise<number[]>;
  /** PROCESSING transactions (both ways) not updated since `before` go back to WAITING. */
  revertStaleTransactions(before: number, now: number): Promise<number>;
}
