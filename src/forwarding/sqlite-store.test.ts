import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, onTestFinished } from 'vitest';
import Database from 'better-sqlite3';
import { openSqliteState } from '../storage/sqlite-state.js';
import type { ForwardTarget } from './store.js';
import type { StateStore } from '../storage/state-store.js';
import { onPostgres, stateEngine } from '../../test/helpers/state-engines.js';

const engine = stateEngine();
let state: StateStore;
/** Stores opened besides `state` (a second process on the same state), closed after the test. */
let others: StateStore[];
beforeEach(async () => {
  state = await engine.open();
  others = [];
});
afterEach(async () => {
  await state.close();
  for (const other of others) await other.close();
});

/** Another process's store on the same state. */
const another = async (): Promise<StateStore> => {
  const other = await engine.reopen(state);
  others.push(other);
  return other;
};

const target: ForwardTarget = { kind: 'scu', scuId: 1 };
const entry = (routeKey: string, imageId: number, keepImages = true) => ({
  routeKey,
  ruleId: 1,
  target,
  keepImages,
  item: { imageId, sopInstanceUid: `1.2.${imageId}` },
});

describe('forwarding outbox in the state store', () => {
  it('collects instances per route into one OPEN transaction, once per SOP instance', async () => {
    await state.enqueueForwards([entry('rule:1', 1), entry('rule:1', 2), entry('rule:2', 1)], 1000, 100);
    await state.enqueueForwards([entry('rule:1', 2), entry('rule:1', 3)], 2000, 100);
    const open = await state.listForwardingTransactions({ startIndex: 0, count: 10, status: 'OPEN' });
    expect(open.map((t) => [t.routeKey, t.totalImageCount, t.updated])).toEqual([
      ['rule:1', 3, 2000],
      ['rule:2', 1, 1000],
    ]);
    expect((await state.forwardingItems(open[0].id, true)).map((i) => i.imageId)).toEqual([1, 2, 3]);
  });

  it('queues an instance once per bus event and route: a redelivered event is not queued again', async () => {
    const ev = (routeKey: string, imageId: number, eventId: string) => ({
      ...entry(routeKey, imageId),
      eventId,
    });
    await state.enqueueForwards([ev('rule:1', 1, 'e1'), ev('rule:2', 1, 'e1')], 1000, 100);
    // The batch went out (claimed, sent, gone) before the event came again: nothing is queued the second time.
    const claimed = await state.claimDueForwardingTransactions(5000, 2000, 10, 60_000);
    for (const t of claimed) await state.deleteForwardingTransaction(t.id);
    await state.enqueueForwards([ev('rule:1', 1, 'e1'), ev('rule:2', 1, 'e1')], 6000, 100);
    expect(await state.listForwardingTransactions({ startIndex: 0, count: 10 })).toEqual([]);
    // Another event of the same instance (sent again by its modality) is forwarded again; so is a new route.
    await state.enqueueForwards([ev('rule:1', 1, 'e2'), ev('rule:3', 1, 'e1')], 7000, 100);
    const open = await state.listForwardingTransactions({ startIndex: 0, count: 10, status: 'OPEN' });
    expect(open.map((t) => [t.routeKey, t.totalImageCount])).toEqual([
      ['rule:1', 1],
      ['rule:3', 1],
    ]);
  });

  it('holds a claimed batch for its lease: renewed, it stays; run out (its sender died), another takes it', async () => {
    await state.enqueueForwards([entry('rule:1', 1)], 1000, 100);
    const [t] = await state.claimDueForwardingTransactions(5000, 2000, 10, 8000);
    expect(t.routeKey).toBe('rule:1');
    const other = await another();
    expect(await other.claimDueForwardingTransactions(7000, 2000, 10, 10_000)).toEqual([]);
    await state.renewForwardingLeases([t.id], 12_000);
    expect(await other.claimDueForwardingTransactions(11_000, 2000, 10, 20_000)).toEqual([]);
    // No renewal after 12,000: the batch is taken over, once.
    const taken = await other.claimDueForwardingTransactions(12_500, 2000, 10, 40_000);
    expect(taken.map((x) => [x.id, x.status])).toEqual([[t.id, 'SENDING']]);
    expect(await state.claimDueForwardingTransactions(13_000, 2000, 10, 40_000)).toEqual([]);
  });

  it('claims due transactions in one step: answered as they were, SENDING for everyone else', async () => {
    await state.enqueueForwards([entry('rule:1', 1), entry('rule:2', 2)], 1000, 100);
    const claimed = await state.claimDueForwardingTransactions(6000, 2000, 1);
    expect(claimed.map((t) => [t.routeKey, t.status])).toEqual([['rule:1', 'OPEN']]);
    expect(await state.forwardingTransaction(claimed[0]!.id)).toMatchObject({ status: 'SENDING' });
    // Not claimed twice; the next one is.
    expect((await state.claimDueForwardingTransactions(6000, 2000, 10)).map((t) => t.routeKey)).toEqual([
      'rule:2',
    ]);
    expect(await state.claimDueForwardingTransactions(6000, 2000, 10)).toEqual([]);
  });

  it('answers transactions that are quiet, full, or due for a retry; a picked one stops collecting', async () => {
    await state.enqueueForwards([entry('rule:1', 1)], 1000, 100);
    // rule:2 is full at 2: READY at once, and its third instance opens a new batch.
    await state.enqueueForwards([entry('rule:2', 1), entry('rule:2', 2), entry('rule:2', 3)], 5000, 2);
    expect(
      (await state.listForwardingTransactions({ startIndex: 0, count: 10 })).map((t) => [
        t.routeKey,
        t.status,
        t.totalImageCount,
      ]),
    ).toEqual([
      ['rule:1', 'OPEN', 1],
      ['rule:2', 'READY', 2],
      ['rule:2', 'OPEN', 1],
    ]);
    // Quiet since 1000: rule:1; rule:2's open batch is not quiet yet.
    expect(
      (await state.dueForwardingTransactions(6000, 2000, 10)).map((t) => [t.routeKey, t.status]),
    ).toEqual([
      ['rule:1', 'OPEN'],
      ['rule:2', 'READY'],
    ]);
    expect((await state.dueForwardingTransactions(6000, 0, 10)).map((t) => t.status)).toEqual(['READY']);
    const [t1] = await state.dueForwardingTransactions(6000, 2000, 1);
    await state.setForwardingStatus(t1.id, { status: 'SENDING' });
    await state.enqueueForwards([entry('rule:1', 7)], 7000, 100);
    const rule1 = (await state.listForwardingTransactions({ startIndex: 0, count: 10 })).filter(
      (t) => t.routeKey === 'rule:1',
    );
    expect(rule1.map((t) => [t.status, t.totalImageCount])).toEqual([
      ['SENDING', 1],
      ['OPEN', 1],
    ]);
    await state.setForwardingStatus(t1.id, {
      status: 'RETRY',
      attempts: 1,
      nextAttemptAt: 9000,
      lastError: 'down',
    });
    expect((await state.dueForwardingTransactions(8000, 0, 10)).map((t) => t.id)).not.toContain(t1.id);
    expect((await state.dueForwardingTransactions(9000, 0, 10)).map((t) => t.id)).toContain(t1.id);
    expect(await state.forwardingTransaction(t1.id)).toMatchObject({
      attempts: 1,
      lastError: 'down',
      status: 'RETRY',
    });
  });

  it('survives a restart; SENDING becomes due again; sent items are remembered', async () => {
    await state.enqueueForwards([entry('rule:1', 1), entry('rule:1', 2)], 1000, 100);
    const [t] = await state.dueForwardingTransactions(2000, 2000, 10);
    await state.setForwardingStatus(t.id, { status: 'SENDING' });
    await state.markForwardingItemsSent(t.id, ['1.2.1']);
    await state.close();
    state = await engine.reopen(state);
    expect(await state.resetSendingForwardingTransactions(3000)).toBe(1);
    expect(await state.forwardingTransaction(t.id)).toMatchObject({
      status: 'RETRY',
      nextAttemptAt: 3000,
      sentImageCount: 1,
      totalImageCount: 2,
    });
    expect(await state.forwardingItems(t.id, true)).toEqual([{ imageId: 2, sopInstanceUid: '1.2.2' }]);
  });

  it('hands out images marked for deletion only once no transaction still has to send them', async () => {
    await state.enqueueForwards([entry('rule:1', 1, false), entry('rule:2', 1)], 1000, 100);
    const [a, b] = await state.listForwardingTransactions({ startIndex: 0, count: 10 });
    await state.markForwardingItemsSent(a.id, ['1.2.1']);
    await state.markImagesForDeletion([1]);
    await state.deleteForwardingTransaction(a.id);
    expect(await state.deletableImages()).toEqual([]);
    await state.markForwardingItemsSent(b.id, ['1.2.1']);
    await state.deleteForwardingTransaction(b.id);
    expect(await state.deletableImages()).toEqual([1]);
    await state.forgetDeletions([1]);
    expect(await state.deletableImages()).toEqual([]);
  });

  it('records the box transaction of a batch handed to a box; a rolled back write leaves no trace', async () => {
    await state.enqueueForwards([entry('rule:1', 1)], 1000, 100);
    const [t] = await state.dueForwardingTransactions(2000, 2000, 10);
    await expect(
      state.transaction(async (tx) => {
        await tx.setForwardingBoxTransaction(t.id, 7);
        await tx.setForwardingStatus(t.id, { status: 'DELIVERING' });
        throw new Error('crash');
      }),
    ).rejects.toThrow('crash');
    expect(await state.forwardingTransaction(t.id)).toMatchObject({ status: 'OPEN', boxTransactionId: null });
    await state.transaction(async (tx) => {
      await tx.setForwardingBoxTransaction(t.id, 7);
      await tx.setForwardingStatus(t.id, { status: 'DELIVERING' });
    });
    expect(await state.deliveringForwardingTransactions()).toMatchObject([{ id: t.id, boxTransactionId: 7 }]);
    // DELIVERING is not due, and a restart leaves it alone (the box carries it).
    expect(await state.dueForwardingTransactions(9000, 9000, 10)).toEqual([]);
    expect(await state.resetSendingForwardingTransactions(9000)).toBe(0);
  });

  it.skipIf(onPostgres())(
    'migrates a version 1 outbox: batches and their instances kept, DELIVERING accepted',
    async () => {
      const dir = await mkdtemp(join(tmpdir(), 'sluice-state-fwd-'));
      onTestFinished(() => rm(dir, { recursive: true, force: true }));
      await state.close();
      const path = join(dir, 'v1.sqlite');
      const old = new Database(path);
      old.pragma('foreign_keys = ON');
      old.exec(`
      CREATE TABLE ForwardingTransactions (
        id INTEGER PRIMARY KEY AUTOINCREMENT, ruleId INTEGER, routeKey TEXT NOT NULL, target TEXT NOT NULL,
        keepImages INTEGER NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('OPEN', 'READY', 'SENDING', 'RETRY', 'FAILED')),
        imageCount INTEGER NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0, created INTEGER NOT NULL,
        updated INTEGER NOT NULL, nextAttemptAt INTEGER NOT NULL DEFAULT 0, lastError TEXT NOT NULL DEFAULT '');
      CREATE TABLE ForwardingImages (
        transactionId INTEGER NOT NULL REFERENCES ForwardingTransactions (id) ON DELETE CASCADE,
        sopInstanceUid TEXT NOT NULL, imageId INTEGER NOT NULL, sent INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (transactionId, sopInstanceUid));
      INSERT INTO ForwardingTransactions (ruleId, routeKey, target, keepImages, status, imageCount, attempts,
        created, updated, lastError)
        VALUES (1, 'rule:1', '{"kind":"scu","scuId":1}', 0, 'RETRY', 2, 3, 10, 20, 'down');
      INSERT INTO ForwardingImages (transactionId, sopInstanceUid, imageId, sent) VALUES (1, '1.2.1', 1, 1);
      INSERT INTO ForwardingImages (transactionId, sopInstanceUid, imageId) VALUES (1, '1.2.2', 2);
      PRAGMA user_version = 1;
    `);
      old.close();
      state = openSqliteState(path);
      expect(await state.forwardingTransaction(1)).toMatchObject({
        routeKey: 'rule:1',
        target: { kind: 'scu', scuId: 1 },
        keepImages: false,
        status: 'RETRY',
        attempts: 3,
        lastError: 'down',
        boxTransactionId: null,
        totalImageCount: 2,
        sentImageCount: 1,
      });
      await state.setForwardingStatus(1, { status: 'DELIVERING' });
      expect(await state.deliveringForwardingTransactions()).toHaveLength(1);
      // The instances still belong to the (rebuilt) table: deleting the batch takes them with it.
      await state.deleteForwardingTransaction(1);
      expect(await state.forwardingItems(1, false)).toEqual([]);
      await state.enqueueForwards([entry('rule:1', 1)], 1000, 100);
      expect(await state.listForwardingTransactions({ startIndex: 0, count: 10 })).toMatchObject([
        { id: 2, totalImageCount: 1 },
      ]);
    },
  );

  describe('shared by several processes (PostgreSQL: concurrent connections)', () => {
    const routes = (n: number) => Array.from({ length: n }, (_, i) => entry(`rule:${i + 1}`, i + 1));
    const ids = (batches: Array<Array<{ id: number }>>) => batches.flat().map((t) => t.id);

    it('two claims at once take disjoint transactions, each at most once', async () => {
      await state.enqueueForwards(routes(30), 1000, 100);
      const other = await another();
      const [a, b] = await Promise.all([
        state.claimDueForwardingTransactions(6000, 2000, 10),
        other.claimDueForwardingTransactions(6000, 2000, 10),
      ]);
      expect(a).toHaveLength(10);
      expect(b).toHaveLength(10);
      expect(new Set(ids([a, b])).size).toBe(20);
      // Many claimers at once: none takes what another took, and together they take every due transaction.
      const stores = [state, other, await another()];
      const claimer = async (store: StateStore) => {
        const taken: number[] = [];
        for (;;) {
          const claimed = await store.claimDueForwardingTransactions(6000, 2000, 3);
          if (!claimed.length) return taken;
          taken.push(...claimed.map((t) => t.id));
        }
      };
      const taken = (await Promise.all([...stores, ...stores].map(claimer))).flat();
      const all = [...ids([a, b]), ...taken];
      expect(all).toHaveLength(30);
      expect(new Set(all).size).toBe(30);
      expect(
        await state.listForwardingTransactions({ startIndex: 0, count: 100, status: 'SENDING' }),
      ).toHaveLength(30);
    });

    it('many enqueues at once onto one route land in its one OPEN transaction, none lost', async () => {
      const stores = [state, await another(), await another()];
      await Promise.all(
        Array.from({ length: 60 }, (_, i) =>
          stores[i % 3]!.enqueueForwards([entry('rule:1', i + 1)], 1000 + i, 1000),
        ),
      );
      const all = await state.listForwardingTransactions({ startIndex: 0, count: 10 });
      expect(all.map((t) => [t.routeKey, t.status, t.totalImageCount])).toEqual([['rule:1', 'OPEN', 60]]);
      const items = await state.forwardingItems(all[0]!.id, true);
      expect(items.map((i) => i.imageId).sort((x, y) => x - y)).toEqual(
        Array.from({ length: 60 }, (_, i) => i + 1),
      );
    });

    it('enqueues at once fill batches to their size, and routes taken in either order do not deadlock', async () => {
      const stores = [state, await another(), await another()];
      await Promise.all([
        ...Array.from({ length: 50 }, (_, i) =>
          stores[i % 3]!.enqueueForwards([entry('rule:1', i + 1)], 1000, 7),
        ),
        ...Array.from({ length: 20 }, (_, i) =>
          stores[i % 3]!.enqueueForwards(
            i % 2
              ? [entry('rule:a', 100 + i), entry('rule:b', 100 + i)]
              : [entry('rule:b', 100 + i), entry('rule:a', 100 + i)],
            1000,
            1000,
          ),
        ),
      ]);
      const all = await state.listForwardingTransactions({ startIndex: 0, count: 100 });
      const rule1 = all.filter((t) => t.routeKey === 'rule:1');
      expect(rule1.map((t) => [t.status, t.totalImageCount]).sort()).toEqual([
        ['OPEN', 1],
        ...Array.from({ length: 7 }, () => ['READY', 7]),
      ]);
      const imageIds = (
        await Promise.all(
          rule1.map(async (t) => (await state.forwardingItems(t.id, true)).map((i) => i.imageId)),
        )
      ).flat();
      expect(imageIds.sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
      expect(
        all
          .filter((t) => t.routeKey !== 'rule:1')
          .map((t) => [t.routeKey, t.status, t.totalImageCount])
          .sort(),
      ).toEqual([
        ['rule:a', 'OPEN', 20],
        ['rule:b', 'OPEN', 20],
      ]);
    });

    it('an enqueue racing a claim adds to the batch before it is claimed, or to a new one, never to the claimed', async () => {
      await state.enqueueForwards(routes(20), 1000, 100);
      const other = await another();
      const [claimed] = await Promise.all([
        other.claimDueForwardingTransactions(6000, 2000, 100),
        ...routes(20).map((e, i) =>
          state.enqueueForwards(
            [{ ...e, item: { imageId: 100 + i, sopInstanceUid: `1.3.${i}` } }],
            5000,
            100,
          ),
        ),
      ]);
      for (const t of claimed) {
        // As it was claimed: one instance, and nothing added since.
        expect(t.totalImageCount).toBe(1);
        expect(await state.forwardingItems(t.id, true)).toHaveLength(1);
      }
      const all = await state.listForwardingTransactions({ startIndex: 0, count: 100 });
      expect(all.reduce((sum, t) => sum + t.totalImageCount, 0)).toBe(40);
      // A route whose batch was claimed has a new OPEN one with the late instance; the others have both.
      expect(
        all
          .filter((t) => t.status === 'OPEN')
          .map((t) => t.totalImageCount)
          .sort(),
      ).toEqual(
        routes(20)
          .map((e) => (claimed.some((t) => t.routeKey === e.routeKey) ? 1 : 2))
          .sort(),
      );
    });
  });

  it('keeps one rule per source and destination', async () => {
    const rule = {
      source: { sourceType: 'scp' as const, sourceName: 'SCP', sourceId: 1 },
      destination: { destinationType: 'scu' as const, destinationName: 'pacs', destinationId: 3 },
      keepImages: true,
    };
    const first = await state.insertForwardingRule(rule);
    expect(await state.insertForwardingRule({ ...rule, keepImages: false })).toEqual(first);
    expect(await state.listForwardingRules(0, 10)).toEqual([first]);
    expect(await state.deleteForwardingRule(first.id)).toBe(true);
    expect(await state.listForwardingRules(0, 10)).toEqual([]);
  });

  it('lists log entries newest first, by subject and type', async () => {
    await state.insertLogEntry({ created: 1, entryType: 'INFO', subject: 'A', message: 'one' });
    const two = await state.insertLogEntry({ created: 2, entryType: 'WARN', subject: 'B', message: 'two' });
    await state.insertLogEntry({ created: 3, entryType: 'WARN', subject: 'A', message: 'three' });
    const messages = async (opts: object) =>
      (await state.listLogEntries({ startIndex: 0, count: 10, ...opts })).map((e) => e.message);
    expect(await messages({})).toEqual(['three', 'two', 'one']);
    expect(await messages({ subject: 'A' })).toEqual(['three', 'one']);
    expect(await messages({ entryType: 'WARN', subject: 'A' })).toEqual(['three']);
    expect(await messages({ startIndex: 1, count: 1 })).toEqual(['two']);
    expect(await state.deleteLogEntry(two.id)).toBe(true);
    expect(await state.clearLog()).toBe(2);
  });
});
