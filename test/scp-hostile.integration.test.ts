/**
 * The DICOM port under abuse, with raw sockets beside a real DCMTK storescu: absurd association requests,
 * connections that never associate, and associations that trickle bytes. Each is cut off early, memory
 * stays bounded, and real senders keep being served.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestEngine, type TestEngine } from './helpers/engine.js';
import { dcmtk } from './helpers/dcmtk.js';
import { associateRq } from './helpers/upper-layer.js';
import { makeInstance, newUid } from './fixtures/dicom-fixtures.js';

let engine: TestEngine;
let dir: string;
let file: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-scp-hostile-'));
  const pipeline = join(dir, 'scp.yaml');
  await writeFile(
    pipeline,
    [
      'name: scp',
      'sources:',
      '  - type: dicom_scp',
      '    max_associations: 4',
      '    association_timeout_ms: 2000',
      '    association_request_timeout_ms: 1000',
      'sinks:',
      '  - type: storage',
      '  - type: index',
      '',
    ].join('\n'),
  );
  file = join(dir, 'one.dcm');
  await writeFile(file, makeInstance({ sopInstanceUid: newUid() }));
  engine = await startTestEngine({ pipelines: [pipeline] });
});
afterAll(async () => {
  await engine?.cleanup();
  await rm(dir, { recursive: true, force: true });
});

const send = () =>
  dcmtk('storescu', ['-aec', 'SLUICE', '-to', '10', '127.0.0.1', String(engine.dicomPort), file]);

/** A raw connection that records when the server closed it. */
function raw(): { socket: Socket; closed: Promise<number> } {
  const started = Date.now();
  const socket = connect(engine.dicomPort, '127.0.0.1');
  socket.on('error', () => undefined);
  socket.resume();
  const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now() - started)));
  return { socket, closed };
}

describe('association requests', () => {
  it('closes connections announcing an absurd A-ASSOCIATE-RQ at its header, without reading it', async () => {
    const before = process.memoryUsage().rss;
    const zeros = Buffer.alloc(15 * 1024 * 1024);
    const conns = Array.from({ length: 64 }, () => {
      const c = raw();
      c.socket.write(Buffer.from([0x01, 0x00, 0x00, 0xff, 0xff, 0xf0]));
      c.socket.write(zeros);
      return c;
    });
    const sent = send();
    const times = await Promise.all(conns.map((c) => c.closed));
    expect(Math.max(...times)).toBeLessThan(5_000);
    expect((await sent).code).toBe(0);
    expect(process.memoryUsage().rss - before).toBeLessThan(100 * 1024 * 1024);
  });

  it('aborts a connection whose first PDU is not an A-ASSOCIATE-RQ at its header', async () => {
    const c = raw();
    c.socket.write(Buffer.from([0x04, 0x00, 0x00, 0x00, 0x10, 0x00]));
    expect(await c.closed).toBeLessThan(1_000);
  });
});

describe('slow peers', () => {
  it('drops connections that trickle an association request, and serves storescu meanwhile', async () => {
    const rq = associateRq();
    const conns = Array.from({ length: 40 }, () => raw());
    let i = 0;
    const trickle = setInterval(() => {
      for (const c of conns) if (!c.socket.destroyed) c.socket.write(rq.subarray(i, i + 1));
      i++;
    }, 200);
    try {
      expect((await send()).code).toBe(0);
      const times = await Promise.all(conns.map((c) => c.closed));
      // The request timeout is 1 s: trickled bytes do not extend it.
      expect(Math.max(...times)).toBeLessThan(3_000);
    } finally {
      clearInterval(trickle);
    }
  });

  it('aborts associations that trickle P-DATA after the association timeout, then serves storescu', async () => {
    const holders = await Promise.all(
      Array.from({ length: 4 }, async () => {
        const c = raw();
        const accepted = new Promise<Buffer>((resolve) => c.socket.once('data', resolve));
        c.socket.write(associateRq());
        expect((await accepted)[0]).toBe(0x02);
        return c;
      }),
    );
    // A P-DATA-TF that never completes: one byte every 200 ms.
    const pdata = Buffer.alloc(6 + 1000);
    pdata[0] = 0x04;
    pdata.writeUInt32BE(1000, 2);
    let i = 0;
    const trickle = setInterval(() => {
      for (const c of holders) if (!c.socket.destroyed) c.socket.write(pdata.subarray(i, i + 1));
      i++;
    }, 200);
    try {
      const refused = await send();
      expect(refused.code).not.toBe(0); // the four slots are taken for now
      const times = await Promise.all(holders.map((c) => c.closed));
      expect(Math.max(...times)).toBeLessThan(4_000);
      expect((await send()).code).toBe(0);
    } finally {
      clearInterval(trickle);
    }
  });
});
