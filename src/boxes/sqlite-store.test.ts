import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { StateStore } from '../storage/state-store.js';
import { onPostgres, stateEngine } from '../../test/helpers/state-engines.js';

const engine = stateEngine();
let state: StateStore;
beforeEach(async () => {
  state = await engine.open();
});
afterEach(async () => {
  await state.close();
});

const pushBox = async () =>
  await state.insertBox({
    name: 'remote',
    token: 't-1',
    baseUrl: 'http://remote/api/transactions/t-1',
    sendMethod: 'PUSH',
    defaultProfile: ['BASIC_PROFILE'],
  });

describe(`boxes in the state store (${engine.name})`, () => {
  it('lets one process at a time hold a box: renewed by its holder, taken over once the hold runs out', async () => {
    const box = await pushBox();
    expect(await state.holdBox(box.id, 'a', 1000, 11_000)).toBe(true);
    expect(await state.holdBox(box.id, 'b', 2000, 12_000)).toBe(false);
    expect(await state.holdBox(box.id, 'a', 10_000, 20_000)).toBe(true); // renewed
    expect(await state.holdBox(box.id, 'b', 15_000, 25_000)).toBe(false);
    // a stopped renewing (it died): after 20,000 b takes it, and a, back, does not.
    expect(await state.holdBox(box.id, 'b', 20_001, 30_000)).toBe(true);
    expect(await state.holdBox(box.id, 'a', 21_000, 31_000)).toBe(false);
  });

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
    state = await engine.reopen(state);
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

  it('keeps image ids past 2^31, tags of high groups, and the last value given for a tag', async () => {
    const box = await pushBox();
    const imageId = 2 ** 40 + 7;
    const t = await state.insertOutgoingTransaction(
      box,
      [],
      [
        {
          imageId,
          tagValues: [
            { tag: 0xfffee000, value: 'first' },
            { tag: 0x00100010, value: 'Name' },
            { tag: 0xfffee000, value: 'last' },
          ],
        },
      ],
      1,
    );
    const [image] = await state.outgoingImages(t.id);
    expect(image).toMatchObject({ imageId, sequenceNumber: 1 });
    expect(await state.outgoingTagValues(image!.id)).toEqual([
      { tag: 0x00100010, value: 'Name' },
      { tag: 0xfffee000, value: 'last' },
    ]);
    const incoming = await state.ensureIncomingTransaction(box, 2 ** 40, 1, 1);
    expect(await state.incomingTransactionFor(box.id, 2 ** 40)).toMatchObject({ id: incoming.id });
    expect(
      await state.recordIncomingImage(
        {
          incomingTransactionId: incoming.id,
          sequenceNumber: 1,
          imageId,
          added: true,
          status: 'RECEIVED',
          message: null,
        },
        2,
      ),
    ).toMatchObject({ status: 'FINISHED', receivedImageCount: 1 });
    expect(await state.incomingImageIds(incoming.id)).toEqual([imageId]);
    // A later image announcing more images grows the transaction, never shrinks it.
    expect(await state.ensureIncomingTransaction(box, 2 ** 40, 3, 3)).toMatchObject({ totalImageCount: 3 });
    expect(await state.ensureIncomingTransaction(box, 2 ** 40, 2, 4)).toMatchObject({ totalImageCount: 3 });
  });

  // Takes on SQLite wait for each other: an open one would hold the others off, not share.
  it.skipIf(!onPostgres())('hands images held by a take that is still open to no other take', async () => {
    const box = await pushBox();
    const first = await state.insertOutgoingTransaction(
      box,
      [],
      [10, 11].map((imageId) => ({ imageId, tagValues: [] })),
      1000,
    );
    const second = await state.insertOutgoingTransaction(
      box,
      [],
      [20, 21].map((imageId) => ({ imageId, tagValues: [] })),
      1001,
    );
    const meanwhile = await state.transaction(async (tx) => {
      const held = await tx.takeOutgoingImages(box.id, 2, 2000);
      expect(held.map((x) => x.image.imageId)).toEqual([10, 11]);
      // Another process's take while this one holds its images: it answers the next ones only.
      const other = await state.takeOutgoingImages(box.id, 10, 2000);
      expect(await state.outgoingTransaction(first.id)).toMatchObject({ status: 'WAITING' });
      return other;
    });
    expect(meanwhile.map((x) => [x.transaction.id, x.image.imageId])).toEqual([
      [second.id, 20],
      [second.id, 21],
    ]);
    expect(await state.outgoingTransaction(first.id)).toMatchObject({ status: 'PROCESSING', updated: 2000 });
    expect(await state.outgoingTransaction(second.id)).toMatchObject({ status: 'PROCESSING', updated: 2000 });
    // Once that take is over, its images (still WAITING until reported) are offered again, as on SQLite.
    expect((await state.takeOutgoingImages(box.id, 3, 3000)).map((x) => x.image.imageId)).toEqual([
      10, 11, 20,
    ]);
  });

  it('counts every image settled at once, and finalizes the transaction once', async () => {
    const box = await pushBox();
    const ids = Array.from({ length: 12 }, (_, i) => i + 1);
    const t = await state.insertOutgoingTransaction(
      box,
      [],
      ids.map((imageId) => ({ imageId, tagValues: [] })),
      1,
    );
    const images = await state.outgoingImages(t.id);
    await Promise.all(
      images.map((image, i) =>
        i % 4 === 3 ? state.markOutgoingFailed(image.id, 'refused', 2) : state.markOutgoingSent(image.id, 2),
      ),
    );
    expect(await state.outgoingTransaction(t.id)).toMatchObject({
      status: 'FAILED',
      sentImageCount: 9,
      failedImageCount: 3,
    });
    expect((await state.outgoingAwaitingRemoteStatus(box.id)).map((x) => x.id)).toEqual([t.id]);
  });

  it('lands images of one transaction pushed at once in one incoming transaction, all counted', async () => {
    const box = await state.insertBox({
      name: 'client',
      token: 'tok',
      baseUrl: 'http://us/api/transactions/tok',
      sendMethod: 'POLL',
      defaultProfile: [],
    });
    const total = 16;
    // Each push as the serving side does it: the transaction on first sight, then the image.
    const pushes = await Promise.all(
      Array.from({ length: total }, async (_, i) => {
        const t = await state.ensureIncomingTransaction(box, 77, total, 10 + i);
        await state.recordIncomingImage(
          {
            incomingTransactionId: t.id,
            sequenceNumber: i + 1,
            imageId: 100 + i,
            added: i % 2 === 0,
            status: 'RECEIVED',
            message: null,
          },
          20,
        );
        return t.id;
      }),
    );
    expect(new Set(pushes).size).toBe(1);
    const transactions = await state.listIncomingTransactions(0, 10);
    expect(transactions).toHaveLength(1);
    expect(transactions[0]).toMatchObject({
      id: pushes[0],
      outgoingTransactionId: 77,
      totalImageCount: total,
      receivedImageCount: total,
      addedImageCount: total / 2,
      failedImageCount: 0,
      status: 'FINISHED',
    });
    expect(await state.incomingImageIds(pushes[0]!)).toHaveLength(total);
  });
});
