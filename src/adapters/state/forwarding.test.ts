import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSqliteState } from '../sqlite-state.js';
import type { ForwardTarget, StateStore } from '../../core/ports.js';

let dir: string;
let state: StateStore;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-state-fwd-'));
  state = openSqliteState(join(dir, 'state.sqlite'));
});
afterEach(async () => {
  state.close();
  await rm(dir, { recursive: true, force: true });
});

const target: ForwardTarget = { kind: 'scu', scuId: 1 };
const entry = (routeKey: string, imageId: number, keepImages = true) => ({
  routeKey,
  ruleId: 1,
  target,
  keepImages,
  item: { imageId, sopInstanceUid: `1.2.${imageId}` },
});

describe('forwarding outbox in the state store', () => {
  it('collects instances per route into one OPEN transaction, once per SOP instance', () => {
    state.enqueueForwards([entry('rule:1', 1), entry('rule:1', 2), entry('rule:2', 1)], 1000, 100);
    state.enqueueForwards([entry('rule:1', 2), entry('rule:1', 3)], 2000, 100);
    const open = state.listForwardingTransactions({ startIndex: 0, count: 10, status: 'OPEN' });
    expect(open.map((t) => [t.routeKey, t.totalImageCount, t.updated])).toEqual([
      ['rule:1', 3, 2000],
      ['rule:2', 1, 1000],
    ]);
    expect(state.forwardingItems(open[0].id, true).map((i) => i.imageId)).toEqual([1, 2, 3]);
  });

  it('answers transactions that are quiet, full, or due for a retry; a picked one stops collecting', () => {
    state.enqueueForwards([entry('rule:1', 1)], 1000, 100);
    // rule:2 is full at 2: READY at once, and its third instance opens a new batch.
    state.enqueueForwards([entry('rule:2', 1), entry('rule:2', 2), entry('rule:2', 3)], 5000, 2);
    expect(
      state
        .listForwardingTransactions({ startIndex: 0, count: 10 })
        .map((t) => [t.routeKey, t.status, t.totalImageCount]),
    ).toEqual([
      ['rule:1', 'OPEN', 1],
      ['rule:2', 'READY', 2],
      ['rule:2', 'OPEN', 1],
    ]);
    // Quiet since 1000: rule:1; rule:2's open batch is not quiet yet.
    expect(state.dueForwardingTransactions(6000, 2000, 10).map((t) => [t.routeKey, t.status])).toEqual([
      ['rule:1', 'OPEN'],
      ['rule:2', 'READY'],
    ]);
    expect(state.dueForwardingTransactions(6000, 0, 10).map((t) => t.status)).toEqual(['READY']);
    const [t1] = state.dueForwardingTransactions(6000, 2000, 1);
    state.setForwardingStatus(t1.id, { status: 'SENDING' });
    state.enqueueForwards([entry('rule:1', 7)], 7000, 100);
    const rule1 = state
      .listForwardingTransactions({ startIndex: 0, count: 10 })
      .filter((t) => t.routeKey === 'rule:1');
    expect(rule1.map((t) => [t.status, t.totalImageCount])).toEqual([
      ['SENDING', 1],
      ['OPEN', 1],
    ]);
    state.setForwardingStatus(t1.id, {
      status: 'RETRY',
      attempts: 1,
      nextAttemptAt: 9000,
      lastError: 'down',
    });
    expect(state.dueForwardingTransactions(8000, 0, 10).map((t) => t.id)).not.toContain(t1.id);
    expect(state.dueForwardingTransactions(9000, 0, 10).map((t) => t.id)).toContain(t1.id);
    expect(state.forwardingTransaction(t1.id)).toMatchObject({
      attempts: 1,
      lastError: 'down',
      status: 'RETRY',
    });
  });

  it('survives a restart; SENDING becomes due again; sent items are remembered', () => {
    state.enqueueForwards([entry('rule:1', 1), entry('rule:1', 2)], 1000, 100);
    const [t] = state.dueForwardingTransactions(2000, 2000, 10);
    state.setForwardingStatus(t.id, { status: 'SENDING' });
    state.markForwardingItemsSent(t.id, ['1.2.1']);
    state.close();
    state = openSqliteState(join(dir, 'state.sqlite'));
    expect(state.resetSendingForwardingTransactions(3000)).toBe(1);
    expect(state.forwardingTransaction(t.id)).toMatchObject({
      status: 'RETRY',
      nextAttemptAt: 3000,
      sentImageCount: 1,
      totalImageCount: 2,
    });
    expect(state.forwardingItems(t.id, true)).toEqual([{ imageId: 2, sopInstanceUid: '1.2.2' }]);
  });

  it('hands out images marked for deletion only once no transaction still has to send them', () => {
    state.enqueueForwards([entry('rule:1', 1, false), entry('rule:2', 1)], 1000, 100);
    const [a, b] = state.listForwardingTransactions({ startIndex: 0, count: 10 });
    state.markForwardingItemsSent(a.id, ['1.2.1']);
    state.markImagesForDeletion([1]);
    state.deleteForwardingTransaction(a.id);
    expect(state.deletableImages()).toEqual([]);
    state.markForwardingItemsSent(b.id, ['1.2.1']);
    state.deleteForwardingTransaction(b.id);
    expect(state.deletableImages()).toEqual([1]);
    state.forgetDeletions([1]);
    expect(state.deletableImages()).toEqual([]);
  });

  it('keeps one rule per source and destination', () => {
    const rule = {
      source: { sourceType: 'scp' as const, sourceName: 'SCP', sourceId: 1 },
      destination: { destinationType: 'scu' as const, destinationName: 'pacs', destinationId: 3 },
      keepImages: true,
    };
    const first = state.insertForwardingRule(rule);
    expect(state.insertForwardingRule({ ...rule, keepImages: false })).toEqual(first);
    expect(state.listForwardingRules(0, 10)).toEqual([first]);
    expect(state.deleteForwardingRule(first.id)).toBe(true);
    expect(state.listForwardingRules(0, 10)).toEqual([]);
  });

  it('lists log entries newest first, by subject and type', () => {
    state.insertLogEntry({ created: 1, entryType: 'INFO', subject: 'A', message: 'one' });
    const two = state.insertLogEntry({ created: 2, entryType: 'WARN', subject: 'B', message: 'two' });
    state.insertLogEntry({ created: 3, entryType: 'WARN', subject: 'A', message: 'three' });
    const messages = (opts: object) =>
      state.listLogEntries({ startIndex: 0, count: 10, ...opts }).map((e) => e.message);
    expect(messages({})).toEqual(['three', 'two', 'one']);
    expect(messages({ subject: 'A' })).toEqual(['three', 'one']);
    expect(messages({ entryType: 'WARN', subject: 'A' })).toEqual(['three']);
    expect(messages({ startIndex: 1, count: 1 })).toEqual(['two']);
    expect(state.deleteLogEntry(two.id)).toBe(true);
    expect(state.clearLog()).toBe(2);
  });
});
