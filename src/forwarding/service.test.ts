/**
 * The forwarding worker's bookkeeping with a scripted sender (the real SCU is exercised against storescp and
 * Orthanc in test/forwarding.integration.test.ts): backoff, partial deliveries, dead letters, lost images;
 * and batches handed to a box, with the box's transfers played by hand on the state store (two real engines
 * in test/box-forwarding.integration.test.ts).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openFsBlobStore } from '../storage/fs-blob-store.js';
import { openSqliteIndex } from '../storage/sqlite-index.js';
import { openSqliteState } from '../storage/sqlite-state.js';
import { ForwardingService } from './service.js';
import { LogService } from '../log/service.js';
import type { BlobStore } from '../storage/blob-store.js';
import type { MetadataIndex } from '../storage/metadata-index.js';
import type { StateStore } from '../storage/state-store.js';
import type { DicomPeer, DicomSender, SendResult } from './scus.js';
import { SluiceError } from '../errors.js';
import { DEFAULT_FORWARDING, loadConfig } from '../config.js';
import { BoxService } from '../boxes/service.js';
import { parseHeader } from '../dicom/header.js';
import { makeInstance } from '../../test/fixtures/dicom-fixtures.js';

let dir: string;
let state: StateStore;
let index: MetadataIndex;
let blobs: BlobStore;
let service: ForwardingService | undefined;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-forwarding-'));
  state = openSqliteState(join(dir, 'state.sqlite'));
  index = openSqliteIndex(':memory:');
  blobs = await openFsBlobStore(join(dir, 'storage'));
});
afterEach(async () => {
  await service?.stop();
  service = undefined;
  await state.close();
  await index.close();
  await rm(dir, { recursive: true, force: true });
});

/** The blob store keeps `<key>.dcm`; keys here are the SOP instance UIDs. */
const sop = (p: string) => p.slice(p.lastIndexOf('/') + 1).replace(/\.dcm$/, '');
/** Answers each send with the next script step: a function of the paths it was given. */
function scriptedSender(steps: Array<(paths: string[], onResult: (r: SendResult) => void) => void>) {
  const calls: string[][] = [];
  const sender: DicomSender = {
    async send(_peer: DicomPeer, objects, onResult) {
      const paths = objects.map((o) => o.name);
      calls.push(paths.map(sop));
      const step = steps.shift();
      if (!step) throw new Error('unexpected send');
      const results: SendResult[] = [];
      step(paths, (r) => {
        results.push(r);
        onResult?.(r);
      });
      return results;
    },
  };
  return { sender, calls };
}

const ok = (p: string): SendResult => ({ sopInstanceUid: sop(p), stored: true, status: 0 });
const refused = (p: string): SendResult => ({ sopInstanceUid: sop(p), stored: false, status: 0xa700 });
const down = () => {
  throw new SluiceError('DIMSE.UNREACHABLE', 'cannot connect to 127.0.0.1:1: connect ECONNREFUSED', 502);
};

async function setUp(sender: DicomSender, maxAttempts = 5) {
  const scu = await state.insertScu({ name: 'pacs', aeTitle: 'PACS', host: '127.0.0.1', port: 1 });
  service = new ForwardingService(
    state,
    { index, blobs, sender, log: new LogService(state) },
    { quietMs: 0, batchMax: 100, concurrency: 1, maxAttempts, retryBaseMs: 20, retryMaxMs: 50 },
  );
  const rule = await service.createRule({
    source: { sourceType: 'scp', sourceName: 'SCP', sourceId: 1 },
    destinationType: 'scu',
    destinationId: scu.id,
    keepImages: true,
  });
  for (const uid of ['1.1', '1.2', '1.3']) {
    const file = join(dir, uid);
    await writeFile(file, uid);
    await blobs.putFile(uid, file);
  }
  for (const [i, uid] of ['1.1', '1.2', '1.3'].entries())
    await service.forwardByRules({ sourceType: 'scp', sourceId: 1 }, { imageId: i + 1, sopInstanceUid: uid });
  return { rule, scu };
}

async function until(what: string, probe: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 500 && !(await probe()); i++) await new Promise((r) => setTimeout(r, 10));
  if (!(await probe())) throw new Error(`never: ${what}`);
}

const indexed = (images: Array<{ id: number }>) => Promise.all(images.map((i) => index.image(i.id)));
const allIndexed = async (images: Array<{ id: number }>) =>
  (await indexed(images)).every((image) => image !== undefined);

const messages = async (type: 'INFO' | 'WARN' | 'ERROR') =>
  (await state.listLogEntries({ startIndex: 0, count: 100, subject: 'Forwarding', entryType: type }))
    .map((e) => e.message)
    .reverse();

describe('forwarding worker', () => {
  it('resends only what the peer did not store, doubling the wait up to the maximum', async () => {
    const { sender, calls } = scriptedSender([
      (paths, report) => {
        report(ok(paths[0]));
        report(refused(paths[1]));
        report(ok(paths[2]));
      },
      () => down(),
      () => down(),
      (paths, report) => paths.forEach((p) => report(ok(p))),
    ]);
    await setUp(sender);
    await service!.start();
    await until(
      'an empty outbox',
      async () => (await state.listForwardingTransactions({ startIndex: 0, count: 10 })).length === 0,
    );
    expect(calls).toEqual([['1.1', '1.2', '1.3'], ['1.2'], ['1.2'], ['1.2']]);
    const warnings = await messages('WARN');
    expect(warnings).toHaveLength(3);
    expect(warnings[0]).toMatch(
      /attempt 1 of 5 to send 1 instance\(s\) .* did not store 1 of 3 instances: 1\.2: status 0xa700; next attempt in 20 ms$/,
    );
    expect(warnings.map((w) => /next attempt in (.*)$/.exec(w)?.[1])).toEqual(['20 ms', '40 ms', '50 ms']);
    expect((await messages('INFO')).at(-1)).toMatch(
      /: 1 instance\(s\) delivered to SCU "pacs" .* after 3 failed attempt\(s\)$/,
    );
  });

  it('dead-letters at once when the destination SCU was deleted, and skips images deleted meanwhile', async () => {
    const { sender, calls } = scriptedSender([(paths, report) => paths.forEach((p) => report(ok(p)))]);
    const { scu } = await setUp(sender);
    await blobs.delete('1.2');
    await state.deleteScu(scu.id);
    await service!.start();
    await until(
      'a dead letter',
      async () =>
        (await state.listForwardingTransactions({ startIndex: 0, count: 10, status: 'FAILED' })).length === 1,
    );
    expect(calls).toEqual([]);
    expect((await messages('ERROR'))[0]).toMatch(
      /3 instance\(s\) to SCU \d+ \(deleted\) moved to the dead letters after 1 attempt\(s\): SCU \d+ no longer exists$/,
    );

    // A retry by hand of a batch whose SCU is gone fails again at once.
    const [dead] = await state.listForwardingTransactions({ startIndex: 0, count: 10 });
    await service!.retry(dead.id);
    await until(
      'failed again',
      async () => (await state.forwardingTransaction(dead.id))?.status === 'FAILED',
    );
    expect((await state.forwardingTransaction(dead.id))?.attempts).toBe(1);
  });

  it('marks instances deleted from storage before the send as done, with a warning', async () => {
    const { sender, calls } = scriptedSender([(paths, report) => paths.forEach((p) => report(ok(p)))]);
    await setUp(sender);
    await blobs.delete('1.2');
    await service!.start();
    await until(
      'an empty outbox',
      async () => (await state.listForwardingTransactions({ startIndex: 0, count: 10 })).length === 0,
    );
    expect(calls).toEqual([['1.1', '1.3']]);
    expect((await messages('WARN'))[0]).toMatch(
      /1 instance\(s\) of forwarding transaction \d+ were deleted before they could be sent to .*: 1\.2$/,
    );
  });
});

/**
 * A box (never started: its transfers are played on the state store) and a keepImages=false rule from the
 * SCP to it, three stored and indexed instances queued. `crashes` makes recording the box transaction on the
 * batch throw that many times, as a process dying at that point would stop it.
 */
async function setUpBox(crashes = 0) {
  const box = await state.insertBox({
    name: 'research',
    token: '00000000-0000-4000-8000-000000000001',
    baseUrl: 'http://127.0.0.1:1/api/transactions/00000000-0000-4000-8000-000000000001',
    sendMethod: 'PUSH',
    defaultProfile: [],
  });
  const boxes = new BoxService(state, index, blobs, (file) => [file], {
    publicApiUrl: () => 'http://127.0.0.1:1/api',
  });
  let left = crashes;
  const crashing = <S extends Pick<StateStore, 'setForwardingBoxTransaction'>>(s: S): S => ({
    ...s,
    setForwardingBoxTransaction: async (id: number, boxTransactionId: number | null) => {
      if (left-- > 0) throw new Error('simulated crash');
      await s.setForwardingBoxTransaction(id, boxTransactionId);
    },
  });
  // Recording fails inside the state store transaction that hands the batch over, as it would there.
  const store: StateStore = {
    ...crashing(state),
    transaction: async (work) => await state.transaction((tx) => work(crashing(tx))),
  };
  service = new ForwardingService(
    store,
    {
      index,
      blobs,
      sender: scriptedSender([]).sender,
      log: new LogService(state),
      boxes: {
        boxName: async (id) => (await state.box(id))?.name,
        sendWithDefaultProfile: (id, imageIds, tx) => boxes.sendWithDefaultProfile(id, imageIds, tx),
        outgoingTransaction: (id) => state.outgoingTransaction(id),
        outgoingImages: (id) => state.outgoingImages(id),
      },
    },
    { quietMs: 0, batchMax: 100, concurrency: 1, maxAttempts: 5, retryBaseMs: 20, retryMaxMs: 50 },
  );
  const source = { sourceType: 'scp' as const, sourceName: 'SCP', sourceId: 1 };
  const rule = await service.createRule({
    source,
    destinationType: 'box',
    destinationId: box.id,
    keepImages: false,
  });
  const images: Array<{ id: number; sop: string }> = [];
  for (let i = 0; i < 3; i++) {
    const file = makeInstance();
    const header = parseHeader(file);
    const { image } = await index.upsert({ header, origin: source, size: file.length });
    const path = join(dir, header.sopInstanceUid);
    await writeFile(path, file);
    await blobs.putFile(header.sopInstanceUid, path);
    images.push({ id: image.id, sop: header.sopInstanceUid });
    await service.forwardByRules(source, { imageId: image.id, sopInstanceUid: header.sopInstanceUid });
  }
  return { box, rule, images };
}

const outbox = async () => await state.listForwardingTransactions({ startIndex: 0, count: 10 });
const outgoingOfBoxes = async () => await state.listOutgoingTransactions(0, 10);

describe('forwarding to a box', () => {
  it('refuses a rule to an unknown box, naming it, and describes box destinations', async () => {
    const { box, rule } = await setUpBox();
    expect(rule.destination).toEqual({
      destinationType: 'box',
      destinationName: 'research',
      destinationId: box.id,
    });
    await expect(
      service!.createRule({
        source: { sourceType: 'scp', sourceName: 'SCP', sourceId: 1 },
        destinationType: 'box',
        destinationId: 99,
        keepImages: true,
      }),
    ).rejects.toThrow('box 99 does not exist');
    const [t] = await service!.listTransactions({ startIndex: 0, count: 10 });
    expect(t!.destination).toBe('box "research"');
    await state.deleteBox(box.id);
    expect((await service!.transaction(t!.id)).destination).toBe(`box ${box.id} (deleted)`);
  });

  it('hands a batch to the box once, even when recording it failed halfway, and deletes only after FINISHED', async () => {
    const { images } = await setUpBox(1);
    await service!.start();
    await until('handed to the box', async () => (await outbox())[0]?.status === 'DELIVERING');
    // The failed first attempt rolled its box transaction back: there is exactly one.
    const [outgoing] = await outgoingOfBoxes();
    expect(await outgoingOfBoxes()).toHaveLength(1);
    expect(outgoing).toMatchObject({ totalImageCount: 3, status: 'WAITING' });
    expect((await outbox())[0]).toMatchObject({
      boxTransactionId: outgoing!.id,
      attempts: 1,
      sentImageCount: 0,
    });
    expect((await messages('WARN'))[0]).toMatch(/attempt 1 of 5 .* simulated crash/);

    const boxImages = await state.outgoingImages(outgoing!.id);
    await state.markOutgoingSent(boxImages[0]!.id, Date.now());
    await state.markOutgoingSent(boxImages[1]!.id, Date.now());
    await new Promise((r) => setTimeout(r, 100));
    expect((await outbox())[0]?.status).toBe('DELIVERING');
    expect(await allIndexed(images)).toBe(true);

    await state.markOutgoingSent(boxImages[2]!.id, Date.now());
    await until('delivered', async () => (await outbox()).length === 0);
    await until('originals deleted', async () => (await indexed(images)).every((image) => !image));
    for (const i of images) expect(await blobs.exists(i.sop)).toBe(false);
    expect(await outgoingOfBoxes()).toHaveLength(1);
    expect(await messages('INFO')).toContainEqual(
      expect.stringMatching(/3 instance\(s\) delivered to box "research"/),
    );
  });

  it('dead-letters the batch when the box transaction FAILED, deleting nothing; a retry sends what failed', async () => {
    const { box, images } = await setUpBox();
    await service!.start();
    await until('handed to the box', async () => (await outbox())[0]?.status === 'DELIVERING');
    const [first] = await state.outgoingImages((await outgoingOfBoxes())[0]!.id);
    const rest = (await state.outgoingImages((await outgoingOfBoxes())[0]!.id)).slice(1);
    await state.markOutgoingFailed(first!.id, 'refused by research: bad file', Date.now());
    for (const image of rest) await state.markOutgoingSent(image.id, Date.now());
    await until('a dead letter', async () => (await outbox())[0]?.status === 'FAILED');
    expect((await outbox())[0]).toMatchObject({
      sentImageCount: 2,
      totalImageCount: 3,
      boxTransactionId: null,
    });
    expect((await outbox())[0]!.lastError).toMatch(
      /FAILED: 1 of 3 image\(s\) not sent \(image \d+: refused by research: bad file\)/,
    );
    expect(await allIndexed(images)).toBe(true);

    await service!.retry((await outbox())[0]!.id);
    await until('handed again', async () => (await outbox())[0]?.status === 'DELIVERING');
    const second = (await outgoingOfBoxes()).find((t) => t.id !== first!.outgoingTransactionId)!;
    expect((await state.outgoingImages(second.id)).map((i) => i.imageId)).toEqual([first!.imageId]);

    // Deleting the box deletes its transactions: the batch waiting for one is dead-lettered.
    await state.deleteBox(box.id);
    await until('dead again', async () => (await outbox())[0]?.status === 'FAILED');
    expect((await outbox())[0]!.lastError).toMatch(
      /outgoing transaction \d+ of box \d+ \(deleted\) was deleted before it ended/,
    );
    expect(await allIndexed(images)).toBe(true);
  });
});

describe('forwarding configuration', () => {
  it('reads SLUICE_FORWARD_* with Slicebox-like defaults and refuses nonsense', () => {
    expect(loadConfig({}).forwarding).toEqual(DEFAULT_FORWARDING);
    expect(DEFAULT_FORWARDING.quietMs).toBe(30_000);
    expect(
      loadConfig({
        SLUICE_FORWARD_QUIET_MS: '0',
        SLUICE_FORWARD_MAX_ATTEMPTS: '3',
        SLUICE_FORWARD_BATCH_MAX: '7',
      }).forwarding,
    ).toMatchObject({ quietMs: 0, maxAttempts: 3, batchMax: 7 });
    expect(() => loadConfig({ SLUICE_FORWARD_CONCURRENCY: '0' })).toThrow(
      'SLUICE_FORWARD_CONCURRENCY: SLUICE_FORWARD_CONCURRENCY must be at least 1',
    );
    expect(() => loadConfig({ SLUICE_FORWARD_RETRY_BASE_MS: 'soon' })).toThrow(/must be a number/);
  });
});
