/**
 * Boxes and their transactions in the PostgreSQL state store: the same tables as the SQLite part
 * (sqlite-store.ts), whose row mappers and shared statements this part uses. Image ids, tags and the
 * sender's transaction ids are BIGINT (a ClickHouse index numbers images in 64 bits).
 *
 * Several processes share these rows. Taking outgoing images locks them (FOR UPDATE SKIP LOCKED), so two
 * takes at the same time never answer the same image; settling an image locks it before its transaction,
 * as taking does, so the two never wait on each other in a circle. Recording an incoming image locks its
 * transaction first, so that concurrent images of one transaction count each other; concurrent first
 * images of a transaction meet on its unique key and find one transaction.
 */
import type { PgDb, PgStatePart } from '../storage/postgres-state/part.js';
import { postgresSchema } from '../storage/postgres-state/part.js';
import type { BoxStore, BoxTagValue, IncomingTransaction, OutgoingTransaction } from './store.js';
import {
  HOLD_BOX,
  BOX,
  BOX_COLUMNS,
  IN,
  IN_COLUMNS,
  INCOMING_STATUS,
  NEXT_OUTGOING,
  OUT,
  OUT_IMAGE,
  RECOUNT_INCOMING,
  UPSERT_INCOMING_IMAGE,
  boxOf,
  incomingImageOf,
  outgoingImageOf,
  outgoingOf,
  type BoxDbRow,
  type IncomingImageDbRow,
  type OutgoingDbRow,
  type OutgoingImageDbRow,
  boxes as sqliteBoxes,
} from './sqlite-store.js';

/** The SQLite part's tables, as PostgreSQL takes them. */
const SCHEMA = postgresSchema(sqliteBoxes.schema);

/** A statement shared with the SQLite part, its `?` parameters numbered $1, $2… in order. */
const numbered = (sql: string): string => {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
};

const NEXT = numbered(NEXT_OUTGOING);
const UPSERT_IN_IMAGE = numbered(UPSERT_INCOMING_IMAGE);
const RECOUNT_IN = numbered(RECOUNT_INCOMING);
const STATUS_IN = numbered(INCOMING_STATUS);
const PROCESSING_OUT = `UPDATE OutgoingTransactions SET status = 'PROCESSING', updated = $1
  WHERE id = ANY($2::bigint[]) AND status IN ('WAITING', 'PROCESSING')`;
const IN_FOR = `${IN} WHERE boxId = $1 AND outgoingTransactionId = $2`;

function boxStore(db: PgDb): BoxStore {
  const box = async (id: number) => {
    const row = await db.row<BoxDbRow>(`${BOX} WHERE id = $1`, [id]);
    return row && boxOf(row);
  };
  const outgoing = async (on: PgDb, id: number) => {
    const row = await on.row<OutgoingDbRow>(`${OUT} WHERE id = $1`, [id]);
    return row && outgoingOf(row);
  };
  const outgoingImage = (on: PgDb, id: number) =>
    on.row<OutgoingImageDbRow>(`${OUT_IMAGE} WHERE id = $1`, [id]);

  /** The images `rows` with their transactions, read on `on` (as they are now). */
  const withTransactions = async (on: PgDb, rows: OutgoingImageDbRow[]) => {
    const ids = [...new Set(rows.map((r) => r.outgoingTransactionId))];
    const transactions = new Map<number, OutgoingTransaction>();
    if (ids.length)
      for (const row of await on.rows<OutgoingDbRow>(`${OUT} WHERE id = ANY($1::bigint[])`, [ids]))
        transactions.set(row.id, outgoingOf(row));
    // (A transaction deleted between the two reads takes its images with it.)
    return rows.flatMap((row) => {
      const transaction = transactions.get(row.outgoingTransactionId);
      return transaction ? [{ transaction, image: outgoingImageOf(row) }] : [];
    });
  };

  /** WAITING → SENT or FAILED, counted on the transaction, which is finalized when no image waits. */
  const settle = (
    on: PgDb,
    imageId: number,
    status: 'SENT' | 'FAILED',
    message: string | null,
    now: number,
  ) =>
    on.atomic(async (db) => {
      const txn = (
        await db.row<{ outgoingTransactionId: number }>(
          `UPDATE OutgoingImages SET status = $1, message = $2 WHERE id = $3 AND status = 'WAITING'
           RETURNING outgoingTransactionId`,
          [status, message, imageId],
        )
      )?.outgoingTransactionId;
      if (txn === undefined) {
        const image = await outgoingImage(db, imageId);
        return image && outgoing(db, image.outgoingTransactionId);
      }
      // The transaction is locked from here on: the images still waiting are counted after any other
      // settlement of its images committed.
      await db.run(
        `UPDATE OutgoingTransactions SET sentImageCount = sentImageCount + $1,
           failedImageCount = failedImageCount + $2, updated = $3 WHERE id = $4`,
        [status === 'SENT' ? 1 : 0, status === 'FAILED' ? 1 : 0, now, txn],
      );
      const waiting = await db.row<{ n: number }>(
        `SELECT count(*) AS n FROM OutgoingImages WHERE outgoingTransactionId = $1 AND status = 'WAITING'`,
        [txn],
      );
      if (waiting!.n === 0)
        await db.run(
          `UPDATE OutgoingTransactions
              SET status = CASE WHEN failedImageCount > 0 THEN 'FAILED' ELSE 'FINISHED' END,
                  remoteStatusPending = (SELECT CASE WHEN b.sendMethod = 'PUSH' THEN 1 ELSE 0 END
                                           FROM Boxes b WHERE b.id = OutgoingTransactions.boxId),
                  updated = $1
            WHERE id = $2`,
          [now, txn],
        );
      else await db.run(PROCESSING_OUT, [now, [txn]]);
      return outgoing(db, txn);
    });

  return {
    holdBox: async (boxId, owner, now, until) =>
      (await db.row<{ owner: string }>(HOLD_BOX, [boxId, owner, until, now]))?.owner === owner,
    listBoxes: async (startIndex, count) =>
      (await db.rows<BoxDbRow>(`${BOX} ORDER BY id LIMIT $1 OFFSET $2`, [count, startIndex])).map(boxOf),
    box,
    boxByName: async (name) => {
      const row = await db.row<BoxDbRow>(`${BOX} WHERE name = $1`, [name]);
      return row && boxOf(row);
    },
    pollBoxes: async () =>
      (await db.rows<BoxDbRow>(`${BOX} WHERE sendMethod = 'POLL' ORDER BY id`)).map(boxOf),
    insertBox: async (fields) =>
      boxOf(
        (await db.row<BoxDbRow>(
          `INSERT INTO Boxes (name, token, baseUrl, sendMethod, defaultProfile) VALUES ($1, $2, $3, $4, $5)
           RETURNING ${BOX_COLUMNS}`,
          [
            fields.name,
            fields.token,
            fields.baseUrl,
            fields.sendMethod,
            JSON.stringify(fields.defaultProfile),
          ],
        ))!,
      ),
    deleteBox: async (id) => (await db.run('DELETE FROM Boxes WHERE id = $1', [id])) > 0,
    recordPoll: async (id, ok, at) =>
      void (await db.run(
        'UPDATE Boxes SET lastPollOk = $1::bigint, lastPollAt = CASE WHEN $1::bigint = 1 THEN $2 ELSE lastPollAt END WHERE id = $3',
        [ok ? 1 : 0, at, id],
      )),

    insertOutgoingTransaction: (target, profile, images, now) =>
      db.atomic(async (db) => {
        const { id } = (await db.row<{ id: number }>(
          `INSERT INTO OutgoingTransactions (boxId, boxName, profile, totalImageCount, created, updated, status)
           VALUES ($1, $2, $3, $4, $5, $5, 'WAITING') RETURNING id`,
          [target.id, target.name, JSON.stringify(profile), images.length, now],
        ))!;
        const rows = await db.rows<{ id: number; sequenceNumber: number }>(
          `INSERT INTO OutgoingImages (outgoingTransactionId, imageId, sequenceNumber)
           SELECT $1, u.imageId, u.n FROM unnest($2::bigint[]) WITH ORDINALITY AS u (imageId, n)
           RETURNING id, sequenceNumber`,
          [id, images.map((i) => i.imageId)],
        );
        // One value per image and tag, the last one given winning (as INSERT OR REPLACE does).
        const values = new Map<string, [number, number, string]>();
        for (const row of rows)
          for (const v of images[row.sequenceNumber - 1]!.tagValues)
            values.set(`${row.id}:${v.tag}`, [row.id, v.tag, v.value]);
        if (values.size) {
          const list = [...values.values()];
          await db.run(
            `INSERT INTO OutgoingTagValues (outgoingImageId, tag, value)
             SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[])`,
            [list.map((v) => v[0]), list.map((v) => v[1]), list.map((v) => v[2])],
          );
        }
        return (await outgoing(db, id))!;
      }),
    listOutgoingTransactions: async (startIndex, count) =>
      (await db.rows<OutgoingDbRow>(`${OUT} ORDER BY id DESC LIMIT $1 OFFSET $2`, [count, startIndex])).map(
        outgoingOf,
      ),
    outgoingTransaction: (id) => outgoing(db, id),
    deleteOutgoingTransaction: async (id) =>
      (await db.run('DELETE FROM OutgoingTransactions WHERE id = $1', [id])) > 0,
    outgoingImages: async (transactionId) =>
      (
        await db.rows<OutgoingImageDbRow>(
          `${OUT_IMAGE} WHERE outgoingTransactionId = $1 ORDER BY sequenceNumber`,
          [transactionId],
        )
      ).map(outgoingImageOf),
    outgoingImage: async (id) => {
      const row = await outgoingImage(db, id);
      return row && outgoingImageOf(row);
    },
    outgoingTagValues: (outgoingImageId) =>
      db.rows<BoxTagValue>(
        'SELECT tag, value FROM OutgoingTagValues WHERE outgoingImageId = $1 ORDER BY tag',
        [outgoingImageId],
      ),
    nextOutgoingImages: async (boxId, count, now) =>
      withTransactions(db, await db.rows<OutgoingImageDbRow>(NEXT, [boxId, now, count])),
    takeOutgoingImages: (boxId, count, now) =>
      db.atomic(async (db) => {
        // Images another take holds are skipped: it answers them, this one the next.
        const rows = await db.rows<OutgoingImageDbRow>(`${NEXT} FOR UPDATE OF i SKIP LOCKED`, [
          boxId,
          now,
          count,
        ]);
        const items = await withTransactions(db, rows);
        if (items.length)
          await db.run(PROCESSING_OUT, [now, [...new Set(items.map((x) => x.transaction.id))]]);
        return items;
      }),
    reportOutgoingImage: (boxId, transactionId, imageId, report, now) =>
      db.atomic(async (db) => {
        const image = await outgoingImage(db, imageId);
        const transaction = image && (await outgoing(db, image.outgoingTransactionId));
        if (!transaction || transaction.id !== transactionId || transaction.boxId !== boxId) return undefined;
        return settle(db, imageId, report.status, report.status === 'FAILED' ? report.message : null, now);
      }),
    nextOutgoingAttemptAt: async (boxId) =>
      (
        await db.row<{ at: number | null }>(
          `SELECT min(i.nextAttemptAt) AS at
             FROM OutgoingTransactions t JOIN OutgoingImages i ON i.outgoingTransactionId = t.id
            WHERE t.boxId = $1 AND t.status IN ('WAITING', 'PROCESSING') AND i.status = 'WAITING'`,
          [boxId],
        )
      )?.at ?? undefined,
    markOutgoingSent: (imageId, now) => settle(db, imageId, 'SENT', null, now),
    markOutgoingFailed: (imageId, message, now) => settle(db, imageId, 'FAILED', message, now),
    deferOutgoing: async (imageId, message, nextAttemptAt) =>
      void (await db.run(
        `UPDATE OutgoingImages SET message = $1, attempts = attempts + 1, nextAttemptAt = $2
          WHERE id = $3 AND status = 'WAITING'`,
        [message, nextAttemptAt, imageId],
      )),
    touchOutgoing: async (transactionId, now) => void (await db.run(PROCESSING_OUT, [now, [transactionId]])),
    outgoingAwaitingRemoteStatus: async (boxId) =>
      (
        await db.rows<OutgoingDbRow>(`${OUT} WHERE boxId = $1 AND remoteStatusPending = 1 ORDER BY id`, [
          boxId,
        ])
      ).map(outgoingOf),
    clearRemoteStatusPending: async (transactionId) =>
      void (await db.run('UPDATE OutgoingTransactions SET remoteStatusPending = 0 WHERE id = $1', [
        transactionId,
      ])),

    ensureIncomingTransaction: async (target, outgoingTransactionId, total, now) => {
      // Every image of a transfer asks; only the first (or a larger total) writes.
      const known = await db.row<IncomingTransaction>(IN_FOR, [target.id, outgoingTransactionId]);
      if (known && known.totalImageCount >= total) return known;
      return db.atomic(async (db) => {
        // A concurrent first image of the same transaction waits here for the other's insert, then finds it.
        const created = await db.row<IncomingTransaction>(
          `INSERT INTO IncomingTransactions (boxId, boxName, outgoingTransactionId, totalImageCount, created,
             updated, status) VALUES ($1, $2, $3, $4, $5, $5, 'WAITING')
           ON CONFLICT (boxId, outgoingTransactionId) DO NOTHING
           RETURNING ${IN_COLUMNS}`,
          [target.id, target.name, outgoingTransactionId, total, now],
        );
        if (created) return created;
        const grown = await db.row<IncomingTransaction>(
          `UPDATE IncomingTransactions SET totalImageCount = $3
            WHERE boxId = $1 AND outgoingTransactionId = $2 AND totalImageCount < $3
           RETURNING ${IN_COLUMNS}`,
          [target.id, outgoingTransactionId, total],
        );
        return grown ?? (await db.row<IncomingTransaction>(IN_FOR, [target.id, outgoingTransactionId]))!;
      });
    },
    incomingTransactionFor: (boxId, outgoingTransactionId) =>
      db.row<IncomingTransaction>(IN_FOR, [boxId, outgoingTransactionId]),
    incomingImage: async (incomingTransactionId, sequenceNumber) => {
      const row = await db.row<IncomingImageDbRow>(
        `SELECT incomingTransactionId, sequenceNumber, imageId, added, status, message FROM IncomingImages
          WHERE incomingTransactionId = $1 AND sequenceNumber = $2`,
        [incomingTransactionId, sequenceNumber],
      );
      return row && incomingImageOf(row);
    },
    recordIncomingImage: (image, now) =>
      db.atomic(async (db) => {
        // The transaction first: the recount below then sees every image recorded before this one.
        await db.run('SELECT id FROM IncomingTransactions WHERE id = $1 FOR UPDATE', [
          image.incomingTransactionId,
        ]);
        await db.run(UPSERT_IN_IMAGE, [
          image.incomingTransactionId,
          image.sequenceNumber,
          image.imageId,
          image.added ? 1 : 0,
          image.status,
          image.message,
        ]);
        await db.run(RECOUNT_IN, [now, image.incomingTransactionId]);
        await db.run(STATUS_IN, [image.incomingTransactionId]);
        return (await db.row<IncomingTransaction>(`${IN} WHERE id = $1`, [image.incomingTransactionId]))!;
      }),
    setIncomingStatus: async (id, status, now) =>
      void (await db.run('UPDATE IncomingTransactions SET status = $1, updated = $2 WHERE id = $3', [
        status,
        now,
        id,
      ])),
    listIncomingTransactions: (startIndex, count) =>
      db.rows<IncomingTransaction>(`${IN} ORDER BY id DESC LIMIT $1 OFFSET $2`, [count, startIndex]),
    incomingTransaction: (id) => db.row<IncomingTransaction>(`${IN} WHERE id = $1`, [id]),
    deleteIncomingTransaction: async (id) =>
      (await db.run('DELETE FROM IncomingTransactions WHERE id = $1', [id])) > 0,
    incomingImageIds: async (incomingTransactionId) =>
      (
        await db.rows<{ imageId: number }>(
          `SELECT DISTINCT imageId FROM IncomingImages WHERE incomingTransactionId = $1 AND imageId IS NOT NULL
            ORDER BY imageId`,
          [incomingTransactionId],
        )
      ).map((r) => r.imageId),
    revertStaleTransactions: (before, now) =>
      db.atomic(
        async (db) =>
          (await db.run(
            `UPDATE OutgoingTransactions SET status = 'WAITING', updated = $1
              WHERE status = 'PROCESSING' AND updated < $2`,
            [now, before],
          )) +
          (await db.run(
            `UPDATE IncomingTransactions SET status = 'WAITING', updated = $1
              WHERE status = 'PROCESSING' AND updated < $2`,
            [now, before],
          )),
      ),
  };
}

export const boxes: PgStatePart<BoxStore> = { schema: SCHEMA, create: boxStore };
