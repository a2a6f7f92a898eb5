import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSqliteState } from '../storage/sqlite-state.js';
import type { StateStore } from '../storage/state-store.js';

let dir: string;
let state: StateStore;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-state-boxes-'));
  state = openSqliteState(join(dir, 'state.sqlite'));
});
afterEach(async () => {
  state.close();
  await rm(dir, { recursive: true, force: true });
});

const pushBox = () =>
  state.insertBox({
    name: 'remote',
    token: 't-1',
    baseUrl: 'http://remote/api/transactions/t-1',
    sendMethod: 'PUSH',
    defaultProfile: ['BASIC_PROFILE'],
  });

describe('boxes in the state store', () => {
  it('numbers outgoing images 1..N with their tag values, and resumes from the persisted state', () => {
    const box = pushBox();
    const t = state.insertOutgoingTransaction(
      box,
      ['BASIC_PROFILE', 'RETAIN_UIDS'],
      [
        { imageId: 10, tagValues: [{ tag: 0x00100020, value: 'X' }] },
        { imageId: 11, tagValues: [] },
        { imageId: 12, tagValues: [] },
      ],
      1000,
    );
    expect(t).toMatchObject({ status: 'WAITING', totalImageCount: 3, sentImageCount: 0 });
    const images = state.outgoingImages(t.id);
    expect(images.map((i) => [i.imageId, i.sequenceNumber, i.status])).toEqual([
      [10, 1, 'WAITING'],
      [11, 2, 'WAITING'],
      [12, 3, 'WAITING'],
    ]);
    expect(state.outgoingTagValues(images[0]!.id)).toEqual([{ tag: 0x00100020, value: 'X' }]);

    // A transient failure defers the image: it is not offered again before its retry time.
    state.deferOutgoing(images[0]!.id, 'connection refused', 5000, 1000);
    expect(state.nextOutgoingImages(box.id, 10, 2000).map((x) => x.image.sequenceNumber)).toEqual([2, 3]);
    expect(state.nextOutgoingAttemptAt(box.id)).toBe(0);
    expect(state.nextOutgoingImages(box.id, 10, 5000).map((x) => x.image.sequenceNumber)).toEqual([1, 2, 3]);
    expect(state.outgoingImage(images[0]!.id)).toMatchObject({ attempts: 1, message: 'connection refused' });

    state.close();
    state = openSqliteState(join(dir, 'state.sqlite'));
    expect(state.nextOutgoingImages(box.id, 2, 5000).map((x) => x.image.sequenceNumber)).toEqual([1, 2]);
  });

  it('finalizes a transaction once every image is settled: FAILED when one failed, and owes the remote its status', () => {
    const box = pushBox();
    const t = state.insertOutgoingTransaction(
      box,
      [],
      [1, 2].map((imageId) => ({ imageId, tagValues: [] })),
      1,
    );
    const [one, two] = state.outgoingImages(t.id);
    expect(state.markOutgoingSent(one!.id, 2)).toMatchObject({ status: 'PROCESSING', sentImageCount: 1 });
    expect(state.markOutgoingSent(one!.id, 3)).toMatchObject({ sentImageCount: 1 }); // idempotent
    expect(state.outgoingAwaitingRemoteStatus(box.id)).toEqual([]);
    const done = state.markOutgoingFailed(two!.id, 'refused: not DICOM', 4);
    expect(done).toMatchObject({ status: 'FAILED', sentImageCount: 1, failedImageCount: 1 });
    expect(state.markOutgoingSent(two!.id, 5)).toMatchObject({ status: 'FAILED', sentImageCount: 1 });
    expect(state.outgoingImage(two!.id)).toMatchObject({ status: 'FAILED', message: 'refused: not DICOM' });
    expect(state.outgoingAwaitingRemoteStatus(box.id).map((x) => x.id)).toEqual([t.id]);
    state.clearRemoteStatusPending(t.id);
    expect(state.outgoingAwaitingRemoteStatus(box.id)).toEqual([]);
    expect(state.nextOutgoingImages(box.id, 10, 10)).toEqual([]);
  });

  it('keeps one row per incoming sequence number, and counts received, added and failed images', () => {
    const box = state.insertBox({
      name: 'client',
      token: 'tok',
      baseUrl: 'http://us/api/transactions/tok',
      sendMethod: 'POLL',
      defaultProfile: [],
    });
    const t = state.ensureIncomingTransaction(box, 77, 3, 1);
    expect(state.ensureIncomingTransaction(box, 77, 3, 2).id).toBe(t.id);
    const record = (
      sequenceNumber: number,
      fields: { imageId: number | null; added: boolean; failed?: string },
    ) =>
      state.recordIncomingImage(
        {
          incomingTransactionId: t.id,
          sequenceNumber,
          imageId: fields.imageId,
          added: fields.added,
          status: fields.failed ? 'FAILED' : 'RECEIVED',
          message: fields.failed ?? null,
        },
        3,
      );
    expect(record(1, { imageId: 5, added: true })).toMatchObject({
      status: 'PROCESSING',
      receivedImageCount: 1,
      addedImageCount: 1,
    });
    // A retry of a received image changes nothing (not even "added").
    expect(record(1, { imageId: 5, added: false })).toMatchObject({
      receivedImageCount: 1,
      addedImageCount: 1,
    });
    expect(record(2, { imageId: null, added: false, failed: 'not DICOM' })).toMatchObject({
      failedImageCount: 1,
    });
    // A failed one may be received on a later try.
    expect(record(2, { imageId: 6, added: true })).toMatchObject({
      receivedImageCount: 2,
      failedImageCount: 0,
    });
    expect(record(3, { imageId: 7, added: false })).toMatchObject({
      status: 'FINISHED',
      receivedImageCount: 3,
      addedImageCount: 2,
    });
    expect(state.incomingImageIds(t.id)).toEqual([5, 6, 7]);
  });

  it('sends stale PROCESSING transactions back to WAITING, and deleting a box takes its transactions', () => {
    const box = pushBox();
    const t = state.insertOutgoingTransaction(box, [], [{ imageId: 1, tagValues: [] }], 1);
    state.touchOutgoing(t.id, 100);
    expect(state.outgoingTransaction(t.id)!.status).toBe('PROCESSING');
    expect(state.revertStaleTransactions(50, 200)).toBe(0);
    expect(state.revertStaleTransactions(150, 200)).toBe(1);
    expect(state.outgoingTransaction(t.id)!.status).toBe('WAITING');
    expect(state.deleteBox(box.id)).toBe(true);
    expect(state.outgoingTransaction(t.id)).toBeUndefined();
    expect(state.listBoxes(0, 10)).toEqual([]);
  });
});
