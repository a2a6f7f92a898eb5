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
  await state.close();
  await rm(dir, { recursive: true, force: true });
});

const pushBox = async () =>
  await state.insertBox({
    name: 'remote',
    token: 't-1',
    baseUrl: 'http://remote/api/transactions/t-1',
    sendMethod: 'PUSH',
    defaultProfile: ['BASIC_PROFILE'],
  });

describe('boxes in the state store', () => {
  it('hands out images with their transactions made PROCESSING, and takes reports only for its own images', async () => {
    const box = await pushBox();
    const other = await state.insertBox({
      name: 'other',
      token: 't-2',
      baseUrl: 'http://other/api/transactions/t-2',
      sendMethod: 'POLL',
      defaultProfile: [],
    });
    const t = await state.insertOutgoingTransaction(
      box,
      [],
      [
        { imageId: 10, tagValues: [] },
        { imageId: 11, tagValues: [] },
      ],
      1000,
    );
    const taken = await state.takeOutgoingImages(box.id, 10, 2000);
    // Answered as they were handed out; stored as PROCESSING.
    expect(taken.map((x) => [x.transaction.status, x.image.sequenceNumber])).toEqual([
      ['WAITING', 1],
      ['WAITING', 2],
    ]);
    expect(await state.outgoingTransaction(t.id)).toMatchObject({ status: 'PROCESSING', updated: 2000 });
    expect(await state.takeOutgoingImages(other.id, 10, 2000)).toEqual([]);
    const [first, second] = taken.map((x) => x.image);
    // Another box, another transaction: nothing changes.
    expect(
      await state.reportOutgoingImage(other.id, t.id, first!.id, { status: 'SENT' }, 3000),
    ).toBeUndefined();
    expect(
      await state.reportOutgoingImage(box.id, t.id + 1, first!.id, { status: 'SENT' }, 3000),
    ).toBeUndefined();
    expect(await state.outgoingImage(first!.id)).toMatchObject({ status: 'WAITING' });
    expect(await state.reportOutgoingImage(box.id, t.id, first!.id, { status: 'SENT' }, 3000)).toMatchObject({
      sentImageCount: 1,
      status: 'PROCESSING',
    });
    expect(
      await state.reportOutgoingImage(
        box.id,
        t.id,
        second!.id,
        { status: 'FAILED', message: 'refused' },
        4000,
      ),
    ).toMatchObject({ sentImageCount: 1, failedImageCount: 1, status: 'FAILED' });
    expect(await state.outgoingImage(second!.id)).toMatchObject({ status: 'FAILED', message: 'refused' });
  });

  it('numbers outgoing images 1..N with their tag values, and resumes from the persisted state', async () => {
    const box = await pushBox();
    const t = await state.insertOutgoingTransaction(
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
    const images = await state.outgoingImages(t.id);
    expect(images.map((i) => [i.imageId, i.sequenceNumber, i.status])).toEqual([
      [10, 1, 'WAITING'],
      [11, 2, 'WAITING'],
      [12, 3, 'WAITING'],
    ]);
    expect(await state.outgoingTagValues(images[0]!.id)).toEqual([{ tag: 0x00100020, value: 'X' }]);

    // A transient failure defers the image: it is not offered again before its retry time.
    await state.deferOutgoing(images[0]!.id, 'connection refused', 5000, 1000);
    expect((await state.nextOutgoingImages(box.id, 10, 2000)).map((x) => x.image.sequenceNumber)).toEqual([
      2, 3,
    ]);
    expect(await state.nextOutgoingAttemptAt(box.id)).toBe(0);
    expect((await state.nextOutgoingImages(box.id, 10, 5000)).map((x) => x.image.sequenceNumber)).toEqual([
      1, 2, 3,
    ]);
    expect(await state.outgoingImage(images[0]!.id)).toMatchObject({
      attempts: 1,
      message: 'connection refused',
    });

    await state.close();
    state = openSqliteState(join(dir, 'state.sqlite'));
    expect((await state.nextOutgoingImages(box.id, 2, 5000)).map((x) => x.image.sequenceNumber)).toEqual([
      1, 2,
    ]);
  });

  it('finalizes a transaction once every image is settled: FAILED when one failed, and owes the remote its status', async () => {
    const box = await pushBox();
    const t = await state.insertOutgoingTransaction(
      box,
      [],
      [1, 2].map((imageId) => ({ imageId, tagValues: [] })),
      1,
    );
    const [one, two] = await state.outgoingImages(t.id);
    expect(await state.markOutgoingSent(one!.id, 2)).toMatchObject({
      status: 'PROCESSING',
      sentImageCount: 1,
    });
    expect(await state.markOutgoingSent(one!.id, 3)).toMatchObject({ sentImageCount: 1 }); // idempotent
    expect(await state.outgoingAwaitingRemoteStatus(box.id)).toEqual([]);
    const done = await state.markOutgoingFailed(two!.id, 'refused: not DICOM', 4);
    expect(done).toMatchObject({ status: 'FAILED', sentImageCount: 1, failedImageCount: 1 });
    expect(await state.markOutgoingSent(two!.id, 5)).toMatchObject({ status: 'FAILED', sentImageCount: 1 });
    expect(await state.outgoingImage(two!.id)).toMatchObject({
      status: 'FAILED',
      message: 'refused: not DICOM',
    });
    expect((await state.outgoingAwaitingRemoteStatus(box.id)).map((x) => x.id)).toEqual([t.id]);
    await state.clearRemoteStatusPending(t.id);
    expect(await state.outgoingAwaitingRemoteStatus(box.id)).toEqual([]);
    expect(await state.nextOutgoingImages(box.id, 10, 10)).toEqual([]);
  });

  it('keeps one row per incoming sequence number, and counts received, added and failed images', async () => {
    const box = await state.insertBox({
      name: 'client',
      token: 'tok',
      baseUrl: 'http://us/api/transactions/tok',
      sendMethod: 'POLL',
      defaultProfile: [],
    });
    const t = await state.ensureIncomingTransaction(box, 77, 3, 1);
    expect((await state.ensureIncomingTransaction(box, 77, 3, 2)).id).toBe(t.id);
    const record = async (
      sequenceNumber: number,
      fields: { imageId: number | null; added: boolean; failed?: string },
    ) =>
      await state.recordIncomingImage(
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
    expect(await record(1, { imageId: 5, added: true })).toMatchObject({
      status: 'PROCESSING',
      receivedImageCount: 1,
      addedImageCount: 1,
    });
    // A retry of a received image changes nothing (not even "added").
    expect(await record(1, { imageId: 5, added: false })).toMatchObject({
      receivedImageCount: 1,
      addedImageCount: 1,
    });
    expect(await record(2, { imageId: null, added: false, failed: 'not DICOM' })).toMatchObject({
      failedImageCount: 1,
    });
    // A failed one may be received on a later try.
    expect(await record(2, { imageId: 6, added: true })).toMatchObject({
      receivedImageCount: 2,
      failedImageCount: 0,
    });
    expect(await record(3, { imageId: 7, added: false })).toMatchObject({
      status: 'FINISHED',
      receivedImageCount: 3,
      addedImageCount: 2,
    });
    expect(await state.incomingImageIds(t.id)).toEqual([5, 6, 7]);
  });

  it('sends stale PROCESSING transactions back to WAITING, and deleting a box takes its transactions', async () => {
    const box = await pushBox();
    const t = await state.insertOutgoingTransaction(box, [], [{ imageId: 1, tagValues: [] }], 1);
    await state.touchOutgoing(t.id, 100);
    expect((await state.outgoingTransaction(t.id))!.status).toBe('PROCESSING');
    expect(await state.revertStaleTransactions(50, 200)).toBe(0);
    expect(await state.revertStaleTransactions(150, 200)).toBe(1);
    expect((await state.outgoingTransaction(t.id))!.status).toBe('WAITING');
    expect(await state.deleteBox(box.id)).toBe(true);
    expect(await state.outgoingTransaction(t.id)).toBeUndefined();
    expect(await state.listBoxes(0, 10)).toEqual([]);
  });
});
