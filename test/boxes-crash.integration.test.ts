/**
 * kill -9 of the receiving engine in the middle of a 200-image box transaction, then a restart on the same
 * ports and data directory: the sender retries with backoff, every image arrives exactly once, and both
 * ends of the transaction finish; the same when the killed process is the one polling its remote. And a
 * sender restarted while its receiver was away resumes from the state store.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AUTH, freePort, startTestEngine, type TestEngine } from './helpers/engine.js';
import {
  FAST_BOXES,
  imagesWithSeries,
  incoming,
  json,
  pair,
  send,
  transferEnded,
  uploadStudy,
  type Api,
  type BoxJson,
} from './helpers/boxes.js';
import { eventually } from './helpers/eventually.js';
import { startEngineProcess } from './helpers/engine-process.js';

const children: ChildProcess[] = [];
const dirs: string[] = [];
let a: TestEngine | undefined;
afterAll(async () => {
  children.forEach((c) => c.kill('SIGKILL'));
  await a?.cleanup();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function startProcess(dataDir: string, httpPort: number, dicomPort: number): Promise<ChildProcess> {
  const child = await startEngineProcess(
    dataDir,
    httpPort,
    dicomPort,
    {
      SLUICE_BOX_POLL_INTERVAL_MS: '100',
      SLUICE_BOX_RETRY_BASE_MS: '50',
      SLUICE_BOX_RETRY_MAX_MS: '400',
    },
    60_000,
  );
  children.push(child);
  return child;
}

describe('box transfer across a crash of the receiver', () => {
  it('delivers every image of a 200-image transaction exactly once, and both ends finish', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'sluice-box-crash-'));
    dirs.push(dataDir);
    const [httpPort, dicomPort] = [await freePort(), await freePort()];
    const b: Api = {
      api: (path, init = {}) =>
        fetch(`http://127.0.0.1:${httpPort}${path}`, {
          ...init,
          headers: { ...AUTH, ...(init.headers ?? {}) },
        }),
    };
    let receiver = await startProcess(dataDir, httpPort, dicomPort);
    a = await startTestEngine({ boxes: { ...FAST_BOXES, parallelism: 4 } });
    const { pollBox, pushBox } = await pair(b, a, { server: 'receiver', client: 'sender' });
    const study = await uploadStudy(a, { series: 4, perSeries: 50, rows: 256, columns: 256 });
    expect(study.imageIds).toHaveLength(200);

    const outgoingId = await send(a, pushBox.id, study.imageIds);
    let received = 0;
    while (received < 30) {
      received = await incoming(b, pollBox.id, outgoingId).then(
        (t) => t.receivedImageCount,
        () => 0,
      );
      await new Promise((r) => setTimeout(r, 5));
    }
    receiver.kill('SIGKILL');
    await new Promise((r) => receiver.once('exit', r));
    expect(received).toBeLessThan(200);
    // `online` follows the last poll: off while the receiver is down, on again once it is back.
    const online = async () => (await json<BoxJson[]>(a!.api('/api/boxes')))[0]!.online;
    await eventually(async () => expect(await online()).toBe(false));

    receiver = await startProcess(dataDir, httpPort, dicomPort);
    await eventually(async () => expect(await online()).toBe(true));
    const { out, in: inc } = await transferEnded(a, outgoingId, b, pollBox.id, 'FINISHED', 120_000);
    expect(out).toMatchObject({ sentImageCount: 200, failedImageCount: 0, totalImageCount: 200 });
    expect(inc).toMatchObject({ receivedImageCount: 200, failedImageCount: 0, totalImageCount: 200 });

    const images = await imagesWithSeries(b);
    expect(images).toHaveLength(200);
    expect(new Set(images.map((i) => i.sopInstanceUID.value)).size).toBe(200);
    expect(new Set(images.map((i) => i.flat.series.seriesInstanceUID.value)).size).toBe(4);
    receiver.kill('SIGTERM');
  }, 240_000);

  it('resumes a transaction after the sender restarts, while the receiver was away', async () => {
    const [senderDir, receiverDir] = [
      await mkdtemp(join(tmpdir(), 'sluice-box-sender-')),
      await mkdtemp(join(tmpdir(), 'sluice-box-receiver-')),
    ];
    dirs.push(senderDir, receiverDir);
    const receiverPort = await freePort();
    const boxes = { ...FAST_BOXES, parallelism: 4 };
    let receiver = await startTestEngine({ dataDir: receiverDir, httpPort: receiverPort, boxes });
    let sender = await startTestEngine({ dataDir: senderDir, boxes });
    const { pollBox, pushBox } = await pair(receiver, sender, { server: 'receiver', client: 'sender' });
    const study = await uploadStudy(sender, { series: 2, perSeries: 10 });
    await receiver.stop();

    const outgoingId = await send(sender, pushBox.id, study.imageIds);
    await eventually(async () => {
      const images = await json<Array<{ status: string; message: string | null }>>(
        sender.api(`/api/boxes/outgoing/${outgoingId}/images?transfer=true`),
      );
      expect(images.every((i) => i.status === 'WAITING')).toBe(true);
      expect(images.some((i) => /cannot reach receiver/.test(i.message ?? ''))).toBe(true);
    });
    await sender.stop();

    sender = await startTestEngine({ dataDir: senderDir, boxes });
    receiver = await startTestEngine({ dataDir: receiverDir, httpPort: receiverPort, boxes });
    try {
      const { out, in: inc } = await transferEnded(sender, outgoingId, receiver, pollBox.id);
      expect(out).toMatchObject({ sentImageCount: 20, failedImageCount: 0 });
      expect(inc).toMatchObject({ receivedImageCount: 20, addedImageCount: 20 });
    } finally {
      await sender.stop();
      await receiver.stop();
    }
  }, 120_000);

  it('delivers every image exactly once when the polling side is killed in the middle', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'sluice-box-poller-'));
    dirs.push(dataDir);
    const [httpPort, dicomPort] = [await freePort(), await freePort()];
    const poller: Api = {
      api: (path, init = {}) =>
        fetch(`http://127.0.0.1:${httpPort}${path}`, {
          ...init,
          headers: { ...AUTH, ...(init.headers ?? {}) },
        }),
    };
    let child = await startProcess(dataDir, httpPort, dicomPort);
    const server = await startTestEngine({ boxes: FAST_BOXES });
    try {
      const { pollBox, pushBox } = await pair(server, poller, { server: 'server', client: 'poller' });
      const study = await uploadStudy(server, { series: 4, perSeries: 50, rows: 256, columns: 256 });
      const outgoingId = await send(server, pollBox.id, study.imageIds);
      let received = 0;
      while (received < 30) {
        received = await incoming(poller, pushBox.id, outgoingId).then(
          (t) => t.receivedImageCount,
          () => 0,
        );
        await new Promise((r) => setTimeout(r, 5));
      }
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      expect(received).toBeLessThan(200);

      child = await startProcess(dataDir, httpPort, dicomPort);
      const { out, in: inc } = await transferEnded(
        server,
        outgoingId,
        poller,
        pushBox.id,
        'FINISHED',
        120_000,
      );
      expect(out).toMatchObject({ sentImageCount: 200, failedImageCount: 0 });
      expect(inc).toMatchObject({ receivedImageCount: 200, failedImageCount: 0 });
      const images = await imagesWithSeries(poller);
      expect(images).toHaveLength(200);
      expect(new Set(images.map((i) => i.sopInstanceUID.value)).size).toBe(200);
      child.kill('SIGTERM');
    } finally {
      await server.cleanup();
    }
  }, 240_000);
});
