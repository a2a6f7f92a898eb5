/**
 * SCUs through the API against real peers on loopback: DCMTK storescp and Orthanc receive what
 * `POST /api/scus/{id}/send` sends; every way a send can fail answers 502 with a precise message.
 */
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startTestEngine, type TestEngine } from './helpers/engine.js';
import { startOrthanc, startStorescp } from './helpers/peers.js';
import { makeInstance, newUid } from './fixtures/dicom-fixtures.js';
import { parseHeader } from '../src/dicom/header.js';

let engine: TestEngine;
let dir: string;
const stops: Array<() => Promise<void>> = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-scus-'));
  engine = await startTestEngine();
});
afterAll(async () => {
  for (const stop of stops) await stop();
  await engine.cleanup();
  await rm(dir, { recursive: true, force: true });
});

const json = (body: unknown): RequestInit => ({
  method: 'POST',
  body: JSON.stringify(body),
  headers: { 'Content-Type': 'application/json' },
});

async function createScu(fields: { name: string; aeTitle: string; port: number; host?: string }) {
  const r = await engine.api('/api/scus', json({ id: -1, host: '127.0.0.1', ...fields }));
  expect(r.status).toBe(201);
  return (await r.json()) as { id: number; name: string; aeTitle: string; host: string; port: number };
}

async function upload(bytes: Buffer): Promise<number> {
  const r = await engine.api('/api/images', { method: 'POST', body: bytes as BodyInit });
  expect(r.status).toBe(201);
  return ((await r.json()) as { id: number }).id;
}

const send = (scuId: number, imageIds: number[]) => engine.api(`/api/scus/${scuId}/send`, json(imageIds));
const datasetOf = (b: Buffer) => b.subarray(144 + b.readUInt32LE(140));

describe('/api/scus', () => {
  it('validates, lists, answers destinations and deletes', async () => {
    const bad = [
      { name: 'x', aeTitle: '', host: '127.0.0.1', port: 104 },
      { name: 'x', aeTitle: 'A'.repeat(17), host: '127.0.0.1', port: 104 },
      { name: 'x', aeTitle: 'PACS', host: '127.0.0.1', port: 70000 },
      { name: 'x', aeTitle: 'PACS', host: '', port: 104 },
      { name: 'x', aeTitle: 'PACS', host: 'a b', port: 104 },
    ];
    for (const body of bad) {
      const r = await engine.api('/api/scus', json({ id: -1, ...body }));
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(await r.text()).toMatch(/^SCU: /);
    }
    const scu = await createScu({ name: 'listed', aeTitle: ' PACS ', port: 10401 });
    expect(scu).toEqual({ id: scu.id, name: 'listed', aeTitle: 'PACS', host: '127.0.0.1', port: 10401 });
    const dupAddress = await engine.api(
      '/api/scus',
      json({ id: -1, name: 'other', aeTitle: 'P', host: '127.0.0.1', port: 10401 }),
    );
    expect(dupAddress.status).toBe(400);
    expect(await dupAddress.text()).toBe('SCU "listed" already sends to 127.0.0.1:10401');
    const dupName = await engine.api(
      '/api/scus',
      json({ id: -1, name: 'listed', aeTitle: 'P', host: '127.0.0.1', port: 10402 }),
    );
    expect(dupName.status).toBe(400);

    expect(await (await engine.api('/api/scus')).json()).toContainEqual(scu);
    expect(await (await engine.api('/api/destinations')).json()).toContainEqual({
      destinationType: 'scu',
      destinationName: 'listed',
      destinationId: scu.id,
    });
    expect((await engine.api(`/api/scus/${scu.id}`, { method: 'DELETE' })).status).toBe(204);
    expect((await engine.api(`/api/scus/${scu.id}`, { method: 'DELETE' })).status).toBe(204);
    expect(await (await engine.api('/api/scus')).json()).not.toContainEqual(scu);
  });

  it('sends stored files to storescp byte for byte, and logs the send', async () => {
    const peer = await startStorescp(dir, { args: ['+B', '+xa'] });
    stops.push(peer.stop);
    const scu = await createScu({ name: 'storescp', aeTitle: peer.aeTitle, port: peer.port });
    const bytes = [0, 1, 2].map(() => makeInstance({ sopInstanceUid: newUid(), rows: 32, columns: 32 }));
    const ids = [];
    for (const b of bytes) ids.push(await upload(b));
    const r = await send(scu.id, ids);
    expect(r.status, await r.text()).toBe(204);
    const names = await readdir(peer.out);
    expect(names).toHaveLength(3);
    for (const b of bytes) {
      const sop = parseHeader(b).sopInstanceUid;
      const got = await Promise.all(names.map((n) => readFile(join(peer.out, n))));
      const match = got.find((g) => parseHeader(g).sopInstanceUid === sop);
      expect(match && datasetOf(match).equals(datasetOf(b))).toBe(true);
    }
    const log = (await (await engine.api('/api/log?subject=SCU&type=INFO')).json()) as Array<{
      message: string;
    }>;
    expect(log[0].message).toBe(`Sent 3 images to SCU "storescp" (STORESCP@127.0.0.1:${peer.port})`);
  });

  it('decompresses stored JPEG and RLE instances for a peer that accepts only uncompressed syntaxes', async () => {
    const peer = await startStorescp(dir, { args: ['+B'] }); // DCMTK's default: uncompressed only
    stops.push(peer.stop);
    const scu = await createScu({ name: 'uncompressed', aeTitle: peer.aeTitle, port: peer.port });
    const pydicom = '/usr/lib/python3/dist-packages/pydicom/data/test_files';
    const stored = await Promise.all(
      ['SC_rgb_dcmtk_+eb+cy+np.dcm', 'rtdose_rle.dcm'].map((n) => readFile(join(pydicom, n))),
    );
    const ids = [];
    for (const b of stored) ids.push(await upload(b));
    const r = await send(scu.id, ids);
    expect(r.status, await r.text()).toBe(204);
    const names = await readdir(peer.out);
    expect(names).toHaveLength(2);
    for (const n of names) {
      const header = parseHeader(await readFile(join(peer.out, n)));
      expect(header.transferSyntaxUid).toBe('1.2.840.10008.1.2.1');
      expect(stored.map((b) => parseHeader(b).sopInstanceUid)).toContain(header.sopInstanceUid);
    }
  });

  it('sends to Orthanc', async () => {
    const orthanc = await startOrthanc({ dir: join(dir, 'orthanc') });
    stops.push(orthanc.stop);
    const scu = await createScu({ name: 'orthanc', aeTitle: orthanc.aeTitle, port: orthanc.dicomPort });
    const bytes = [0, 1].map(() => makeInstance({ sopInstanceUid: newUid() }));
    const ids = [];
    for (const b of bytes) ids.push(await upload(b));
    expect((await send(scu.id, ids)).status).toBe(204);
    expect((await orthanc.sopInstanceUids()).sort()).toEqual(
      bytes.map((b) => parseHeader(b).sopInstanceUid).sort(),
    );
  });

  it('answers 404 for an unknown SCU or image', async () => {
    const id = await upload(makeInstance({ sopInstanceUid: newUid() }));
    expect((await send(99999, [id])).status).toBe(404);
    const scu = await createScu({ name: 'nobody-404', aeTitle: 'X', port: await freePort() });
    const r = await send(scu.id, [99999]);
    expect(r.status).toBe(404);
    expect(await r.text()).toBe('image 99999 not found');
  });

  it('answers 502 with a precise message for each way a peer can fail', async () => {
    const id = await upload(makeInstance({ sopInstanceUid: newUid() }));

    const downPort = await freePort();
    const down = await createScu({ name: 'down', aeTitle: 'DOWN', port: downPort });
    let r = await send(down.id, [id]);
    expect(r.status).toBe(502);
    expect(await r.text()).toBe(
      `cannot connect to 127.0.0.1:${downPort}: connect ECONNREFUSED 127.0.0.1:${downPort}`,
    );

    const refusing = await startStorescp(dir, { args: ['--refuse'] });
    stops.push(refusing.stop);
    const refuser = await createScu({ name: 'refuser', aeTitle: 'STORESCP', port: refusing.port });
    r = await send(refuser.id, [id]);
    expect(r.status).toBe(502);
    expect(await r.text()).toMatch(
      /^STORESCP@127\.0\.0\.1:\d+ rejected the association \(permanent, source 1, reason 1\)$/,
    );

    // storescp accepts only the storage SOP classes it knows: a private one has no context.
    const privateId = await upload(
      makeInstance({ sopInstanceUid: newUid(), sopClassUid: '1.2.826.0.1.3680043.10.1337.99.1' }),
    );
    const plain = await startStorescp(dir);
    stops.push(plain.stop);
    const plainScu = await createScu({ name: 'plain', aeTitle: 'STORESCP', port: plain.port });
    r = await send(plainScu.id, [privateId]);
    expect(r.status).toBe(502);
    expect(await r.text()).toBe(
      `STORESCP@127.0.0.1:${plain.port} accepted none of the proposed presentation contexts`,
    );

    // …and only uncompressed syntaxes: a JPEG 2000 frame that cannot be decoded is not sent.
    const broken = await readFile(
      '/usr/lib/python3/dist-packages/pydicom/data/test_files/JPEG2000-embedded-sequence-delimiter.dcm',
    );
    r = await send(plainScu.id, [await upload(broken)]);
    expect(r.status).toBe(502);
    expect(await r.text()).toMatch(
      new RegExp(
        `^"plain" \\(STORESCP@127\\.0\\.0\\.1:${plain.port}\\) did not store 1 of 1 instances: ${parseHeader(broken).sopInstanceUid.replace(/\./g, '\\.')}: not sent \\(cannot decompress 1\\.2\\.840\\.10008\\.1\\.2\\.4\\.91 to 1\\.2\\.840\\.10008\\.1\\.2\\.1 for STORESCP@127\\.0\\.0\\.1:${plain.port}, which refuses .*: frame 1 of 1: .*cannot be decoded`,
      ),
    );

    // A failure status: storescp cannot write once its output folder is gone (0xA700, out of resources).
    const failing = await startStorescp(dir);
    stops.push(failing.stop);
    await rm(failing.out, { recursive: true });
    const failingScu = await createScu({ name: 'failing', aeTitle: 'STORESCP', port: failing.port });
    r = await send(failingScu.id, [id]);
    expect(r.status).toBe(502);
    expect(await r.text()).toMatch(
      new RegExp(
        `^"failing" \\(STORESCP@127\\.0\\.0\\.1:${failing.port}\\) did not store 1 of 1 instances: [0-9.]+: status 0xa700`,
      ),
    );

    const errors = (await (await engine.api('/api/log?subject=SCU&type=ERROR&count=100')).json()) as Array<{
      message: string;
    }>;
    expect(errors.length).toBeGreaterThanOrEqual(4);
    expect(errors.some((e) => e.message.includes('rejected the association'))).toBe(true);
  });
});
