/**
 * Boxes and their transactions in the state store (Slicebox's `Boxes`, `OutgoingTransactions`,
 * `OutgoingImages`, `OutgoingTagValues`, `IncomingTransactions`, `IncomingImages`). Outgoing images carry
 * their own status, failure reason and retry time, so a push resumes after a restart exactly where it was,
 * and an image the receiver refused stays FAILED with the reason instead of counting as sent.
 */
import type Database from 'better-sqlite3';
import type {
  BoxRow,
  BoxStore,
  BoxTagValue,
  IncomingImage,
  IncomingTransaction,
  OutgoingImage,
  OutgoingTransaction,
  TransactionStatus,
} from './store.js';
import type { StatePart } from '../storage/sqlite-state-part.js';
import { settled, type Synchronous } from '../storage/settled.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS Boxes (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL UNIQUE,
  token TEXT NOT NULL,
  baseUrl TEXT NOT NULL,
  sendMethod TEXT NOT NULL CHECK (sendMethod IN ('PUSH', 'POLL')),
  defaultProfile TEXT NOT NULL,
  lastPollAt INTEGER,
  lastPollOk INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX IF NOT EXISTS PollBoxesByToken ON Boxes (token) WHERE sendMethod = 'POLL';
CREATE TABLE IF NOT EXISTS OutgoingTransactions (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  boxId INTEGER NOT NULL REFERENCES Boxes (id) ON DELETE CASCADE,
  boxName TEXT NOT NULL,
  profile TEXT NOT NULL,
  sentImageCount INTEGER NOT NULL DEFAULT 0,
  failedImageCount INTEGER NOT NULL DEFAULT 0,
  totalImageCount INTEGER NOT NULL,
  created INTEGER NOT NULL,
  updated INTEGER NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('WAITING', 'PROCESSING', 'FINISHED', 'FAILED')),
  remoteStatusPending INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS OutgoingTransactionsByBox ON OutgoingTransactions (boxId, status, created);
CREATE TABLE IF NOT EXISTS OutgoingImages (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  outgoingTransactionId INTEGER NOT NULL REFERENCES OutgoingTransactions (id) ON DELETE CASCADE,
  imageId INTEGER NOT NULL,
  sequenceNumber INTEGER NOT NULL,
  status TEXT NOT NULL DEFAULT 'WAITING' CHECK (status IN ('WAITING', 'SENT', 'FAILED')),
  message TEXT,
  attempts INTEGER NOT NULL DEFAULT 0,
  nextAttemptAt INTEGER NOT NULL DEFAULT 0,
  UNIQUE (outgoingTransactionId, sequenceNumber)
);
CREATE INDEX IF NOT EXISTS OutgoingImagesByStatus ON OutgoingImages (outgoingTransactionId, status, sequenceNumber);
CREATE TABLE IF NOT EXISTS OutgoingTagValues (
  outgoingImageId INTEGER NOT NULL REFERENCES OutgoingImages (id) ON DELETE CASCADE,
  tag INTEGER NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (outgoingImageId, tag)
);
CREATE TABLE IF NOT EXISTS IncomingTransactions (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  boxId INTEGER NOT NULL REFERENCES Boxes (id) ON DELETE CASCADE,
  boxName TEXT NOT NULL,
  outgoingTransactionId INTEGER NOT NULL,
  receivedImageCount INTEGER NOT NULL DEFAULT 0,
  addedImageCount INTEGER NOT NULL DEFAULT 0,
  failedImageCount INTEGER NOT NULL DEFAULT 0,
  totalImageCount INTEGER NOT NULL,
  created INTEGER NOT NULL,
  updated INTEGER NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('WAITING', 'PROCESSING', 'FINISHED', 'FAILED')),
  UNIQUE (boxId, outgoingTransactionId)
);
CREATE TABLE IF NOT EXISTS IncomingImages (
  incomingTransactionId INTEGER NOT NULL REFERENCES IncomingTransactions (id) ON DELETE CASCADE,
  sequenceNumber INTEGER NOT NULL,
  imageId INTEGER,
  added INTEGER NOT NULL DEFAULT 0,
  status TEXT NOT NULL CHECK (status IN ('RECEIVED', 'FAILED')),
  message TEXT,
  PRIMARY KEY (incomingTransactionId, sequenceNumber)
);
CREATE TABLE IF NOT EXISTS BoxOwners (
  boxId INTEGER PRIMARY KEY,
  owner TEXT NOT NULL,
  heldUntil INTEGER NOT NULL
);
`;

/** Takes or renews a box's hold ($1 box, $2 owner, $3 until, $4 now): answers the owner it has after. */
export const HOLD_BOX = `INSERT INTO BoxOwners (boxId, owner, heldUntil) VALUES ($1, $2, $3)
  ON CONFLICT (boxId) DO UPDATE SET owner = excluded.owner, heldUntil = excluded.heldUntil
  WHERE BoxOwners.owner = excluded.owner OR BoxOwners.heldUntil < $4
  RETURNING owner`;

export interface BoxDbRow extends Omit<BoxRow, 'defaultProfile' | 'lastPollOk'> {
  defaultProfile: string;
  lastPollOk: number;
}
export interface OutgoingDbRow extends Omit<OutgoingTransaction, 'profile'> {
  profile: string;
}
export interface OutgoingImageDbRow extends Omit<OutgoingImage, 'sent'> {}
export interface IncomingImageDbRow extends Omit<IncomingImage, 'added'> {
  added: number;
}

export const boxOf = (r: BoxDbRow): BoxRow => ({
  ...r,
  defaultProfile: JSON.parse(r.defaultProfile) as string[],
  lastPollOk: r.lastPollOk === 1,
});
export const outgoingOf = (r: OutgoingDbRow): OutgoingTransaction => ({
  id: r.id,
  boxId: r.boxId,
  boxName: r.boxName,
  profile: JSON.parse(r.profile) as string[],
  sentImageCount: r.sentImageCount,
  failedImageCount: r.failedImageCount,
  totalImageCount: r.totalImageCount,
  created: r.created,
  updated: r.updated,
  status: r.status,
});
export const outgoingImageOf = (r: OutgoingImageDbRow): OutgoingImage => ({
  id: r.id,
  outgoingTransactionId: r.outgoingTransactionId,
  imageId: r.imageId,
  sequenceNumber: r.sequenceNumber,
  sent: r.status === 'SENT',
  status: r.status,
  message: r.message,
  attempts: r.attempts,
  nextAttemptAt: r.nextAttemptAt,
});
export const incomingImageOf = (r: IncomingImageDbRow): IncomingImage => ({ ...r, added: r.added === 1 });

export const BOX_COLUMNS = 'id, name, token, baseUrl, sendMethod, defaultProfile, lastPollAt, lastPollOk';
export const BOX = `SELECT ${BOX_COLUMNS} FROM Boxes`;
export const OUT = `SELECT id, boxId, boxName, profile, sentImageCount, failedImageCount, totalImageCount, created,
  updated, status FROM OutgoingTransactions`;
export const OUT_IMAGE = `SELECT id, outgoingTransactionId, imageId, sequenceNumber, status, message, attempts,
  nextAttemptAt FROM OutgoingImages`;
export const IN_COLUMNS = `id, boxId, boxName, outgoingTransactionId, receivedImageCount, addedImageCount,
  failedImageCount, totalImageCount, created, updated, status`;
export const IN = `SELECT ${IN_COLUMNS} FROM IncomingTransactions`;

/*
 * Statements both adapters run as they are; `?` marks their parameters, in order (the PostgreSQL part
 * numbers them).
 */
/** The WAITING images of a box's unfinished transactions due at a time: box id, now, count. */
export const NEXT_OUTGOING = `SELECT i.id, i.outgoingTransactionId, i.imageId, i.sequenceNumber, i.status,
         i.message, i.attempts, i.nextAttemptAt
    FROM OutgoingTransactions t JOIN OutgoingImages i ON i.outgoingTransactionId = t.id
   WHERE t.boxId = ? AND t.status IN ('WAITING', 'PROCESSING') AND i.status = 'WAITING'
     AND i.nextAttemptAt <= ?
   ORDER BY t.created, t.id, i.sequenceNumber LIMIT ?`;
/** Records an incoming image; a received one stays as it was. */
export const UPSERT_INCOMING_IMAGE = `INSERT INTO IncomingImages (incomingTransactionId, sequenceNumber, imageId,
    added, status, message) VALUES (?, ?, ?, ?, ?, ?)
  ON CONFLICT (incomingTransactionId, sequenceNumber) DO UPDATE SET imageId = excluded.imageId,
    added = excluded.added, status = excluded.status, message = excluded.message
  WHERE IncomingImages.status <> 'RECEIVED'`;
/** Counts an incoming transaction's images again: updated, id. */
export const RECOUNT_INCOMING = `UPDATE IncomingTransactions SET
    receivedImageCount = (SELECT count(*) FROM IncomingImages
                           WHERE incomingTransactionId = IncomingTransactions.id AND status = 'RECEIVED'),
    addedImageCount = (SELECT count(*) FROM IncomingImages
                        WHERE incomingTransactionId = IncomingTransactions.id AND added = 1),
    failedImageCount = (SELECT count(*) FROM IncomingImages
                         WHERE incomingTransactionId = IncomingTransactions.id AND status = 'FAILED'),
    updated = ?
  WHERE id = ?`;
/** An incoming transaction's status from its counts: id. */
export const INCOMING_STATUS = `UPDATE IncomingTransactions SET status = CASE
    WHEN receivedImageCount + failedImageCount >= totalImageCount
      THEN CASE WHEN failedImageCount > 0 THEN 'FAILED' ELSE 'FINISHED' END
    ELSE 'PROCESSING' END
  WHERE id = ?`;

function boxStore(db: Database.Database): Synchronous<BoxStore> {
  const q = {
    listBoxes: db.prepare<[number, number], BoxDbRow>(`${BOX} ORDER BY id LIMIT ? OFFSET ?`),
    holdBox: db.prepare<[number, string, number, number], { owner: string }>(HOLD_BOX.replace(/\$\d/g, '?')),
    box: db.prepare<[number], BoxDbRow>(`${BOX} WHERE id = ?`),
    boxByName: db.prepare<[string], BoxDbRow>(`${BOX} WHERE name = ?`),
    pollBoxes: db.prepare<[], BoxDbRow>(`${BOX} WHERE sendMethod = 'POLL' ORDER BY id`),
    insertBox: db.prepare<[string, string, string, string, string]>(
      'INSERT INTO Boxes (name, token, baseUrl, sendMethod, defaultProfile) VALUES (?, ?, ?, ?, ?)',
    ),
    deleteBox: db.prepare<[number]>('DELETE FROM Boxes WHERE id = ?'),
    recordPoll: db.prepare<[number, number, number, number]>(
      'UPDATE Boxes SET lastPollOk = ?, lastPollAt = CASE WHEN ? = 1 THEN ? ELSE lastPollAt END WHERE id = ?',
    ),

    insertOut: db.prepare<[number, string, string, number, number, number]>(
      `INSERT INTO OutgoingTransactions (boxId, boxName, profile, totalImageCount, created, updated, status)
       VALUES (?, ?, ?, ?, ?, ?, 'WAITING')`,
    ),
    insertOutImage: db.prepare<[number, number, number]>(
      'INSERT INTO OutgoingImages (outgoingTransactionId, imageId, sequenceNumber) VALUES (?, ?, ?)',
    ),
    insertTagValue: db.prepare<[number, number, string]>(
      'INSERT OR REPLACE INTO OutgoingTagValues (outgoingImageId, tag, value) VALUES (?, ?, ?)',
    ),
    listOut: db.prepare<[number, number], OutgoingDbRow>(`${OUT} ORDER BY id DESC LIMIT ? OFFSET ?`),
    out: db.prepare<[number], OutgoingDbRow>(`${OUT} WHERE id = ?`),
    deleteOut: db.prepare<[number]>('DELETE FROM OutgoingTransactions WHERE id = ?'),
    outImages: db.prepare<[number], OutgoingImageDbRow>(
      `${OUT_IMAGE} WHERE outgoingTransactionId = ? ORDER BY sequenceNumber`,
    ),
    outImage: db.prepare<[number], OutgoingImageDbRow>(`${OUT_IMAGE} WHERE id = ?`),
    tagValues: db.prepare<[number], BoxTagValue>(
      'SELECT tag, value FROM OutgoingTagValues WHERE outgoingImageId = ? ORDER BY tag',
    ),
    nextOut: db.prepare<[number, number, number], OutgoingImageDbRow>(NEXT_OUTGOING),
    nextAttemptAt: db.prepare<[number], { at: number | null }>(
      `SELECT min(i.nextAttemptAt) AS at
         FROM OutgoingTransactions t JOIN OutgoingImages i ON i.outgoingTransactionId = t.id
        WHERE t.boxId = ? AND t.status IN ('WAITING', 'PROCESSING') AND i.status = 'WAITING'`,
    ),
    settleImage: db.prepare<[string, string | null, number]>(
      `UPDATE OutgoingImages SET status = ?, message = ? WHERE id = ? AND status = 'WAITING'`,
    ),
    countSettled: db.prepare<[number, number, number, number]>(
      `UPDATE OutgoingTransactions SET sentImageCount = sentImageCount + ?,
         failedImageCount = failedImageCount + ?, updated = ? WHERE id = ?`,
    ),
    waitingCount: db.prepare<[number], { n: number }>(
      `SELECT count(*) AS n FROM OutgoingImages WHERE outgoingTransactionId = ? AND status = 'WAITING'`,
    ),
    finalizeOut: db.prepare<[number, number]>(
      `UPDATE OutgoingTransactions
          SET status = CASE WHEN failedImageCount > 0 THEN 'FAILED' ELSE 'FINISHED' END,
              remoteStatusPending = (SELECT sendMethod = 'PUSH' FROM Boxes WHERE id = boxId), updated = ?
        WHERE id = ?`,
    ),
    processingOut: db.prepare<[number, number]>(
      `UPDATE OutgoingTransactions SET status = 'PROCESSING', updated = ?
        WHERE id = ? AND status IN ('WAITING', 'PROCESSING')`,
    ),
    deferOut: db.prepare<[string, number, number]>(
      `UPDATE OutgoingImages SET message = ?, attempts = attempts + 1, nextAttemptAt = ?
        WHERE id = ? AND status = 'WAITING'`,
    ),
    awaitingRemote: db.prepare<[number], OutgoingDbRow>(
      `${OUT} WHERE boxId = ? AND remoteStatusPending = 1 ORDER BY id`,
    ),
    clearRemote: db.prepare<[number]>('UPDATE OutgoingTransactions SET remoteStatusPending = 0 WHERE id = ?'),

    insertIn: db.prepare<[number, string, number, number, number, number]>(
      `INSERT INTO IncomingTransactions (boxId, boxName, outgoingTransactionId, totalImageCount, created,
         updated, status) VALUES (?, ?, ?, ?, ?, ?, 'WAITING')
       ON CONFLICT (boxId, outgoingTransactionId) DO NOTHING`,
    ),
    inFor: db.prepare<[number, number], IncomingTransaction>(
      `${IN} WHERE boxId = ? AND outgoingTransactionId = ?`,
    ),
    inTotal: db.prepare<[number, number]>(
      'UPDATE IncomingTransactions SET totalImageCount = max(totalImageCount, ?) WHERE id = ?',
    ),
    inImage: db.prepare<[number, number], IncomingImageDbRow>(
      `SELECT incomingTransactionId, sequenceNumber, imageId, added, status, message FROM IncomingImages
        WHERE incomingTransactionId = ? AND sequenceNumber = ?`,
    ),
    upsertInImage:
      db.prepare<[number, number, number | null, number, string, string | null]>(UPSERT_INCOMING_IMAGE),
    recountIn: db.prepare<[number, number]>(RECOUNT_INCOMING),
    statusIn: db.prepare<[number]>(INCOMING_STATUS),
    setStatusIn: db.prepare<[string, number, number]>(
      'UPDATE IncomingTransactions SET status = ?, updated = ? WHERE id = ?',
    ),
    listIn: db.prepare<[number, number], IncomingTransaction>(`${IN} ORDER BY id DESC LIMIT ? OFFSET ?`),
    inById: db.prepare<[number], IncomingTransaction>(`${IN} WHERE id = ?`),
    deleteIn: db.prepare<[number]>('DELETE FROM IncomingTransactions WHERE id = ?'),
    inImageIds: db.prepare<[number], { imageId: number }>(
      `SELECT DISTINCT imageId FROM IncomingImages WHERE incomingTransactionId = ? AND imageId IS NOT NULL
        ORDER BY imageId`,
    ),
    staleOut: db.prepare<[number, number]>(
      `UPDATE OutgoingTransactions SET status = 'WAITING', updated = ?
        WHERE status = 'PROCESSING' AND updated < ?`,
    ),
    staleIn: db.prepare<[number, number]>(
      `UPDATE IncomingTransactions SET status = 'WAITING', updated = ?
        WHERE status = 'PROCESSING' AND updated < ?`,
    ),
  };

  const insertOutgoing = db.transaction(
    (
      box: BoxRow,
      profile: string[],
      images: Array<{ imageId: number; tagValues: BoxTagValue[] }>,
      now: number,
    ) => {
      const id = Number(
        q.insertOut.run(box.id, box.name, JSON.stringify(profile), images.length, now, now).lastInsertRowid,
      );
      images.forEach((image, i) => {
        const imageRowId = Number(q.insertOutImage.run(id, image.imageId, i + 1).lastInsertRowid);
        for (const v of image.tagValues) q.insertTagValue.run(imageRowId, v.tag, v.value);
      });
      return outgoingOf(q.out.get(id)!);
    },
  );

  const settle = db.transaction(
    (imageId: number, status: 'SENT' | 'FAILED', message: string | null, now: number) => {
      const image = q.outImage.get(imageId);
      if (!image) return undefined;
      const txn = image.outgoingTransactionId;
      if (q.settleImage.run(status, message, imageId).changes === 1) {
        q.countSettled.run(status === 'SENT' ? 1 : 0, status === 'FAILED' ? 1 : 0, now, txn);
        if (q.waitingCount.get(txn)!.n === 0) q.finalizeOut.run(now, txn);
        else q.processingOut.run(now, txn);
      }
      return outgoingOf(q.out.get(txn)!);
    },
  );

  const nextOutgoing = (boxId: number, count: number, now: number) => {
    const transactions = new Map<number, OutgoingTransaction>();
    return q.nextOut.all(boxId, now, count).map((row) => {
      let transaction = transactions.get(row.outgoingTransactionId);
      if (!transaction) {
        transaction = outgoingOf(q.out.get(row.outgoingTransactionId)!);
        transactions.set(transaction.id, transaction);
      }
      return { transaction, image: outgoingImageOf(row) };
    });
  };

  const takeOutgoing = db.transaction((boxId: number, count: number, now: number) => {
    const items = nextOutgoing(boxId, count, now);
    for (const id of new Set(items.map((i) => i.transaction.id))) q.processingOut.run(now, id);
    return items;
  });

  const reportOutgoing = db.transaction(
    (
      boxId: number,
      transactionId: number,
      imageId: number,
      report: { status: 'SENT' } | { status: 'FAILED'; message: string },
      now: number,
    ) => {
      const image = q.outImage.get(imageId);
      const transaction = image && q.out.get(image.outgoingTransactionId);
      if (!transaction || transaction.id !== transactionId || transaction.boxId !== boxId) return undefined;
      return settle(imageId, report.status, report.status === 'FAILED' ? report.message : null, now);
    },
  );

  const ensureIncoming = db.transaction(
    (box: BoxRow, outgoingTransactionId: number, total: number, now: number) => {
      q.insertIn.run(box.id, box.name, outgoingTransactionId, total, now, now);
      const txn = q.inFor.get(box.id, outgoingTransactionId)!;
      if (total > txn.totalImageCount) q.inTotal.run(total, txn.id);
      return q.inFor.get(box.id, outgoingTransactionId)!;
    },
  );

  const recordIncoming = db.transaction((image: IncomingImage, now: number) => {
    q.upsertInImage.run(
      image.incomingTransactionId,
      image.sequenceNumber,
      image.imageId,
      image.added ? 1 : 0,
      image.status,
      image.message,
    );
    q.recountIn.run(now, image.incomingTransactionId);
    q.statusIn.run(image.incomingTransactionId);
    return q.inById.get(image.incomingTransactionId)!;
  });

  const revertStale = db.transaction(
    (before: number, now: number) => q.staleOut.run(now, before).changes + q.staleIn.run(now, before).changes,
  );

  return {
    holdBox: (boxId, owner, now, until) => q.holdBox.get(boxId, owner, until, now)?.owner === owner,
    listBoxes: (startIndex, count) => q.listBoxes.all(count, startIndex).map(boxOf),
    box: (id) => {
      const row = q.box.get(id);
      return row && boxOf(row);
    },
    boxByName: (name) => {
      const row = q.boxByName.get(name);
      return row && boxOf(row);
    },
    pollBoxes: () => q.pollBoxes.all().map(boxOf),
    insertBox: (box) => {
      const id = Number(
        q.insertBox.run(box.name, box.token, box.baseUrl, box.sendMethod, JSON.stringify(box.defaultProfile))
          .lastInsertRowid,
      );
      return boxOf(q.box.get(id)!);
    },
    deleteBox: (id) => q.deleteBox.run(id).changes > 0,
    recordPoll: (id, ok, at) => void q.recordPoll.run(ok ? 1 : 0, ok ? 1 : 0, at, id),

    insertOutgoingTransaction: (box, profile, images, now) => insertOutgoing(box, profile, images, now),
    listOutgoingTransactions: (startIndex, count) => q.listOut.all(count, startIndex).map(outgoingOf),
    outgoingTransaction: (id) => {
      const row = q.out.get(id);
      return row && outgoingOf(row);
    },
    deleteOutgoingTransaction: (id) => q.deleteOut.run(id).changes > 0,
    outgoingImages: (transactionId) => q.outImages.all(transactionId).map(outgoingImageOf),
    outgoingImage: (id) => {
      const row = q.outImage.get(id);
      return row && outgoingImageOf(row);
    },
    outgoingTagValues: (outgoingImageId) => q.tagValues.all(outgoingImageId),
    nextOutgoingImages: nextOutgoing,
    takeOutgoingImages: (boxId, count, now) => takeOutgoing(boxId, count, now),
    reportOutgoingImage: (boxId, transactionId, imageId, report, now) =>
      reportOutgoing(boxId, transactionId, imageId, report, now),
    nextOutgoingAttemptAt: (boxId) => q.nextAttemptAt.get(boxId)?.at ?? undefined,
    markOutgoingSent: (imageId, now) => settle(imageId, 'SENT', null, now),
    markOutgoingFailed: (imageId, message, now) => settle(imageId, 'FAILED', message, now),
    deferOutgoing: (imageId, message, nextAttemptAt) => void q.deferOut.run(message, nextAttemptAt, imageId),
    touchOutgoing: (transactionId, now) => void q.processingOut.run(now, transactionId),
    outgoingAwaitingRemoteStatus: (boxId) => q.awaitingRemote.all(boxId).map(outgoingOf),
    clearRemoteStatusPending: (transactionId) => void q.clearRemote.run(transactionId),

    ensureIncomingTransaction: (box, outgoingTransactionId, total, now) => {
      // Every image of a transfer asks; only the first (or a larger total) writes, and pays a commit.
      const known = q.inFor.get(box.id, outgoingTransactionId);
      if (known && known.totalImageCount >= total) return known;
      return ensureIncoming(box, outgoingTransactionId, total, now);
    },
    incomingTransactionFor: (boxId, outgoingTransactionId) => q.inFor.get(boxId, outgoingTransactionId),
    incomingImage: (incomingTransactionId, sequenceNumber) => {
      const row = q.inImage.get(incomingTransactionId, sequenceNumber);
      return row && incomingImageOf(row);
    },
    recordIncomingImage: (image, now) => recordIncoming(image, now),
    setIncomingStatus: (id, status: TransactionStatus, now) => void q.setStatusIn.run(status, now, id),
    listIncomingTransactions: (startIndex, count) => q.listIn.all(count, startIndex),
    incomingTransaction: (id) => q.inById.get(id),
    deleteIncomingTransaction: (id) => q.deleteIn.run(id).changes > 0,
    incomingImageIds: (incomingTransactionId) =>
      q.inImageIds.all(incomingTransactionId).map((r) => r.imageId),
    revertStaleTransactions: (before, now) => revertStale(before, now),
  };
}

export const boxes: StatePart<BoxStore> = { schema: SCHEMA, create: (db) => settled<BoxStore>(boxStore(db)) };
