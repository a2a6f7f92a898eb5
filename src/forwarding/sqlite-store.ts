/**
 * Forwarding rules and the durable outbox: transactions (batches per route) and their instances. An instance
 * is in the outbox from the moment its pipeline acknowledged it until its destination confirmed it; a
 * delivered transaction is removed. Images of keepImages=false transactions are marked for deletion and
 * handed out once no transaction still has to send them. A transaction handed to a box (DELIVERING) records
 * the box's outgoing transaction, and its instances stay unsent until that one has sent them.
 */
import type Database from 'better-sqlite3';
import type {
  Destination,
  ForwardingItem,
  ForwardingRule,
  ForwardingStatus,
  ForwardingStore,
  ForwardingTransaction,
  ForwardTarget,
} from './store.js';
import type { Source } from '../storage/metadata-index.js';
import type { StatePart } from '../storage/sqlite-state-part.js';
import { settled, type Synchronous } from '../storage/settled.js';

/**
 * What the engines write differently in the outbox's tables: the PostgreSQL part (postgres-store.ts) writes
 * the same tables with its own types.
 */
export interface ForwardingColumnTypes {
  /** An id given at insert. */
  id: string;
  /** Epoch milliseconds. */
  time: string;
  /** An image id of the metadata index. */
  imageId: string;
  /** A column (with its comma) that keeps the order instances were added in; SQLite's rowid does: none. */
  addedOrder: string;
}

const SQLITE_TYPES: ForwardingColumnTypes = {
  id: 'INTEGER PRIMARY KEY AUTOINCREMENT',
  time: 'INTEGER',
  imageId: 'INTEGER',
  addedOrder: '',
};

const transactionsTable = (name: string, t: ForwardingColumnTypes) => `CREATE TABLE IF NOT EXISTS ${name} (
  id ${t.id},
  ruleId INTEGER,
  routeKey TEXT NOT NULL,
  target TEXT NOT NULL,
  keepImages INTEGER NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('OPEN', 'READY', 'SENDING', 'DELIVERING', 'RETRY', 'FAILED')),
  imageCount INTEGER NOT NULL DEFAULT 0,
  attempts INTEGER NOT NULL DEFAULT 0,
  created ${t.time} NOT NULL,
  updated ${t.time} NOT NULL,
  nextAttemptAt ${t.time} NOT NULL DEFAULT 0,
  lastError TEXT NOT NULL DEFAULT '',
  boxTransactionId INTEGER
);`;

export const forwardingTables = (t: ForwardingColumnTypes): string => `
CREATE TABLE IF NOT EXISTS ForwardingRules (
  id ${t.id},
  sourceType TEXT NOT NULL,
  sourceName TEXT NOT NULL,
  sourceId INTEGER NOT NULL,
  destinationType TEXT NOT NULL,
  destinationName TEXT NOT NULL,
  destinationId INTEGER NOT NULL,
  keepImages INTEGER NOT NULL,
  UNIQUE (sourceType, sourceId, destinationType, destinationId)
);
${transactionsTable('ForwardingTransactions', t)}
CREATE UNIQUE INDEX IF NOT EXISTS ForwardingOpenByRoute ON ForwardingTransactions (routeKey) WHERE status = 'OPEN';
CREATE INDEX IF NOT EXISTS ForwardingByStatus ON ForwardingTransactions (status, nextAttemptAt);
CREATE TABLE IF NOT EXISTS ForwardingImages (${t.addedOrder}
  transactionId INTEGER NOT NULL REFERENCES ForwardingTransactions (id) ON DELETE CASCADE,
  sopInstanceUid TEXT NOT NULL,
  imageId ${t.imageId} NOT NULL,
  sent INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (transactionId, sopInstanceUid)
);
CREATE INDEX IF NOT EXISTS ForwardingImagesByImage ON ForwardingImages (imageId, sent);
CREATE TABLE IF NOT EXISTS ForwardingDeletions (
  imageId ${t.imageId} PRIMARY KEY
);
CREATE TABLE IF NOT EXISTS ForwardingEvents (
  eventKey TEXT PRIMARY KEY,
  queued ${t.time} NOT NULL
);
CREATE INDEX IF NOT EXISTS ForwardingEventsByTime ON ForwardingEvents (queued);
`;

/** How long a bus event's queueing is remembered (a redelivery comes within minutes of the first). */
export const EVENT_MEMORY_MS = 7 * 24 * 3600 * 1000;

const SCHEMA = forwardingTables(SQLITE_TYPES);

/**
 * Schema version 1 had neither DELIVERING nor `boxTransactionId`. SQLite cannot change a CHECK constraint in
 * place, so the table is rebuilt (sqlite.org/lang_altertable.html, "other kinds of table schema changes"),
 * with foreign keys off: dropping the old table must not cascade to ForwardingImages.
 */
function migrate(db: Database.Database): void {
  const columns = db.prepare<[], { name: string }>('PRAGMA table_info(ForwardingTransactions)').all();
  if (!columns.length || columns.some((c) => c.name === 'boxTransactionId')) return;
  const kept = columns.map((c) => c.name).join(', ');
  db.pragma('foreign_keys = OFF');
  try {
    db.transaction(() => {
      db.exec(transactionsTable('ForwardingTransactionsV2', SQLITE_TYPES));
      db.exec(`INSERT INTO ForwardingTransactionsV2 (${kept}) SELECT ${kept} FROM ForwardingTransactions`);
      db.exec('DROP TABLE ForwardingTransactions');
      db.exec('ALTER TABLE ForwardingTransactionsV2 RENAME TO ForwardingTransactions');
      const broken = db.pragma('foreign_key_check');
      if ((broken as unknown[]).length) throw new Error('forwarding outbox migration broke foreign keys');
    })();
  } finally {
    db.pragma('foreign_keys = ON');
  }
}

export interface RuleRow {
  id: number;
  sourceType: Source['sourceType'];
  sourceName: string;
  sourceId: number;
  destinationType: Destination['destinationType'];
  destinationName: string;
  destinationId: number;
  keepImages: number;
}

export const rule = (r: RuleRow): ForwardingRule => ({
  id: r.id,
  source: { sourceType: r.sourceType, sourceName: r.sourceName, sourceId: r.sourceId },
  destination: {
    destinationType: r.destinationType,
    destinationName: r.destinationName,
    destinationId: r.destinationId,
  },
  keepImages: r.keepImages === 1,
});

export interface TransactionRow extends Omit<ForwardingTransaction, 'target' | 'keepImages'> {
  target: string;
  keepImages: number;
}

export const transaction = (r: TransactionRow): ForwardingTransaction => ({
  ...r,
  target: JSON.parse(r.target) as ForwardTarget,
  keepImages: r.keepImages === 1,
});

/** A transaction with its counts; the aliases are quoted so that PostgreSQL keeps their case too. */
export const TRANSACTION = `SELECT t.id, t.ruleId, t.routeKey, t.target, t.keepImages, t.status, t.attempts, t.created,
    t.updated, t.nextAttemptAt, t.lastError, t.boxTransactionId,
    (SELECT COUNT(*) FROM ForwardingImages i WHERE i.transactionId = t.id) AS "totalImageCount",
    (SELECT COUNT(*) FROM ForwardingImages i WHERE i.transactionId = t.id AND i.sent = 1) AS "sentImageCount"
  FROM ForwardingTransactions t`;

function forwardingStore(db: Database.Database): Synchronous<ForwardingStore> {
  const q = {
    listRules: db.prepare<[number, number], RuleRow>(
      'SELECT * FROM ForwardingRules ORDER BY id LIMIT ? OFFSET ?',
    ),
    ruleById: db.prepare<[number], RuleRow>('SELECT * FROM ForwardingRules WHERE id = ?'),
    ruleOf: db.prepare<[string, number, string, number], RuleRow>(
      `SELECT * FROM ForwardingRules
        WHERE sourceType = ? AND sourceId = ? AND destinationType = ? AND destinationId = ?`,
    ),
    insertRule: db.prepare<[string, string, number, string, string, number, number]>(
      `INSERT INTO ForwardingRules
         (sourceType, sourceName, sourceId, destinationType, destinationName, destinationId, keepImages)
       VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (sourceType, sourceId, destinationType, destinationId) DO NOTHING`,
    ),
    deleteRule: db.prepare<[number]>('DELETE FROM ForwardingRules WHERE id = ?'),
    openOf: db.prepare<[string], { id: number }>(
      "SELECT id FROM ForwardingTransactions WHERE routeKey = ? AND status = 'OPEN'",
    ),
    insertTransaction: db.prepare<[number | null, string, string, number, number, number]>(
      `INSERT INTO ForwardingTransactions (ruleId, routeKey, target, keepImages, status, created, updated)
       VALUES (?, ?, ?, ?, 'OPEN', ?, ?)`,
    ),
    touch: db.prepare<[number, number]>('UPDATE ForwardingTransactions SET updated = ? WHERE id = ?'),
    grow: db.prepare<[number, number]>(
      `UPDATE ForwardingTransactions SET imageCount = imageCount + 1,
         status = CASE WHEN imageCount + 1 >= ? THEN 'READY' ELSE status END WHERE id = ?`,
    ),
    rememberEvent: db.prepare<[string, number]>(
      'INSERT INTO ForwardingEvents (eventKey, queued) VALUES (?, ?) ON CONFLICT (eventKey) DO NOTHING',
    ),
    forgetEvents: db.prepare<[number]>('DELETE FROM ForwardingEvents WHERE queued < ?'),
    insertImage: db.prepare<[number, string, number]>(
      `INSERT INTO ForwardingImages (transactionId, sopInstanceUid, imageId) VALUES (?, ?, ?)
       ON CONFLICT (transactionId, sopInstanceUid) DO NOTHING`,
    ),
    updateImage: db.prepare<[number, number, string]>(
      'UPDATE ForwardingImages SET imageId = ? WHERE transactionId = ? AND sopInstanceUid = ?',
    ),
    due: db.prepare<[number, number, number], TransactionRow>(
      `${TRANSACTION}
        WHERE t.status = 'READY' OR (t.status = 'OPEN' AND t.updated <= ?)
           OR (t.status IN ('RETRY', 'SENDING') AND t.nextAttemptAt <= ?)
        ORDER BY t.id LIMIT ?`,
    ),
    byId: db.prepare<[number], TransactionRow>(`${TRANSACTION} WHERE t.id = ?`),
    delivering: db.prepare<[], TransactionRow>(`${TRANSACTION} WHERE t.status = 'DELIVERING' ORDER BY t.id`),
    setBoxTransaction: db.prepare<[number | null, number]>(
      'UPDATE ForwardingTransactions SET boxTransactionId = ? WHERE id = ?',
    ),
    list: db.prepare<[string | null, string | null, number, number], TransactionRow>(
      `${TRANSACTION} WHERE (? IS NULL OR t.status = ?) ORDER BY t.id LIMIT ? OFFSET ?`,
    ),
    items: db.prepare<[number, number], ForwardingItem>(
      `SELECT imageId, sopInstanceUid FROM ForwardingImages
        WHERE transactionId = ? AND sent <= ? ORDER BY rowid`,
    ),
    markSent: db.prepare<[number, string]>(
      'UPDATE ForwardingImages SET sent = 1 WHERE transactionId = ? AND sopInstanceUid = ?',
    ),
    setStatus: db.prepare<[ForwardingStatus, number | null, number | null, string | null, number]>(
      `UPDATE ForwardingTransactions SET status = ?, attempts = coalesce(?, attempts),
         nextAttemptAt = coalesce(?, nextAttemptAt), lastError = coalesce(?, lastError) WHERE id = ?`,
    ),
    lease: db.prepare<[number, number]>(
      "UPDATE ForwardingTransactions SET status = 'SENDING', nextAttemptAt = ? WHERE id = ?",
    ),
    renew: db.prepare<[number, number]>(
      "UPDATE ForwardingTransactions SET nextAttemptAt = ? WHERE id = ? AND status = 'SENDING'",
    ),
    resetSending: db.prepare<[number]>(
      "UPDATE ForwardingTransactions SET status = 'RETRY', nextAttemptAt = ? WHERE status = 'SENDING'",
    ),
    deleteTransaction: db.prepare<[number]>('DELETE FROM ForwardingTransactions WHERE id = ?'),
    markDeletion: db.prepare<[number]>(
      'INSERT INTO ForwardingDeletions (imageId) VALUES (?) ON CONFLICT DO NOTHING',
    ),
    deletable: db.prepare<[], { imageId: number }>(
      `SELECT d.imageId FROM ForwardingDeletions d
        WHERE NOT EXISTS (SELECT 1 FROM ForwardingImages i WHERE i.imageId = d.imageId AND i.sent = 0)`,
    ),
    forgetDeletion: db.prepare<[number]>('DELETE FROM ForwardingDeletions WHERE imageId = ?'),
  };

  const enqueue = db.transaction(
    (entries: Parameters<ForwardingStore['enqueueForwards']>[0], now: number, batchMax: number) => {
      const touched = new Set<number>();
      for (const e of entries) {
        if (e.eventId && !q.rememberEvent.run(`${e.eventId}:${e.routeKey}`, now).changes) continue;
        let id = q.openOf.get(e.routeKey)?.id;
        if (id === undefined)
          id = Number(
            q.insertTransaction.run(
              e.ruleId,
              e.routeKey,
              JSON.stringify(e.target),
              e.keepImages ? 1 : 0,
              now,
              now,
            ).lastInsertRowid,
          );
        // A full batch is READY at once; the route's next instance opens a new one.
        if (q.insertImage.run(id, e.item.sopInstanceUid, e.item.imageId).changes) q.grow.run(batchMax, id);
        else q.updateImage.run(e.item.imageId, id, e.item.sopInstanceUid);
        touched.add(id);
      }
      for (const id of touched) q.touch.run(now, id);
      if (entries.some((e) => e.eventId)) q.forgetEvents.run(now - EVENT_MEMORY_MS);
    },
  );
  const markSent = db.transaction((transactionId: number, sops: string[]) => {
    for (const sop of sops) q.markSent.run(transactionId, sop);
  });
  const markDeletion = db.transaction((ids: number[]) => {
    for (const id of ids) q.markDeletion.run(id);
  });
  const forgetDeletions = db.transaction((ids: number[]) => {
    for (const id of ids) q.forgetDeletion.run(id);
  });

  const claimDue = db.transaction((now: number, quietBefore: number, limit: number, leaseUntil: number) => {
    const due = q.due.all(quietBefore, now, limit).map(transaction);
    for (const t of due) q.lease.run(leaseUntil, t.id);
    return due;
  });
  const renew = db.transaction((ids: number[], leaseUntil: number) => {
    for (const id of ids) q.renew.run(leaseUntil, id);
  });

  return {
    listForwardingRules: (startIndex, count) => q.listRules.all(count, startIndex).map(rule),
    forwardingRule: (id) => {
      const row = q.ruleById.get(id);
      return row && rule(row);
    },
    insertForwardingRule: ({ source, destination, keepImages }) => {
      q.insertRule.run(
        source.sourceType,
        source.sourceName,
        source.sourceId,
        destination.destinationType,
        destination.destinationName,
        destination.destinationId,
        keepImages ? 1 : 0,
      );
      return rule(
        q.ruleOf.get(
          source.sourceType,
          source.sourceId,
          destination.destinationType,
          destination.destinationId,
        )!,
      );
    },
    deleteForwardingRule: (id) => q.deleteRule.run(id).changes === 1,
    enqueueForwards: (entries, now, batchMax) => enqueue(entries, now, batchMax),
    dueForwardingTransactions: (now, quietBefore, limit) =>
      q.due.all(quietBefore, now, limit).map(transaction),
    claimDueForwardingTransactions: (now, quietBefore, limit, leaseUntil = Number.MAX_SAFE_INTEGER) =>
      claimDue(now, quietBefore, limit, leaseUntil),
    renewForwardingLeases: (ids, leaseUntil) => renew(ids, leaseUntil),
    forwardingTransaction: (id) => {
      const row = q.byId.get(id);
      return row && transaction(row);
    },
    listForwardingTransactions: ({ startIndex, count, status }) =>
      q.list.all(status ?? null, status ?? null, count, startIndex).map(transaction),
    forwardingItems: (transactionId, unsentOnly) => q.items.all(transactionId, unsentOnly ? 0 : 1),
    markForwardingItemsSent: (transactionId, sops) => markSent(transactionId, sops),
    setForwardingStatus: (id, change) =>
      void q.setStatus.run(
        change.status,
        change.attempts ?? null,
        change.nextAttemptAt ?? null,
        change.lastError ?? null,
        id,
      ),
    deliveringForwardingTransactions: () => q.delivering.all().map(transaction),
    setForwardingBoxTransaction: (id, boxTransactionId) => void q.setBoxTransaction.run(boxTransactionId, id),
    resetSendingForwardingTransactions: (now) => q.resetSending.run(now).changes,
    deleteForwardingTransaction: (id) => q.deleteTransaction.run(id).changes === 1,
    markImagesForDeletion: (ids) => markDeletion(ids),
    deletableImages: () => q.deletable.all().map((r) => r.imageId),
    forgetDeletions: (ids) => forgetDeletions(ids),
  };
}

export const forwarding: StatePart<ForwardingStore> = {
  schema: SCHEMA,
  migrate,
  create: (db) => settled<ForwardingStore>(forwardingStore(db)),
};
