/**
 * The association limit: past max_associations a peer is refused with a transient A-ASSOCIATE-RJ
 * (local limit exceeded), and served again once an association ends.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestEngine, type TestEngine } from './helpers/engine.js';
import { dcmtk } from './helpers/dcmtk.js';
import { associateRq } from './helpers/upper-layer.js';

let engine: TestEngine;
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-limits-'));
  const pipeline = join(dir, 'one.yaml');
  await writeFile(
    pipeline,
    'name: one\nsources:\n  - type: dicom_scp\n    max_associations: 1\nsinks:\n  - type: storage\n  - type: index\n',
  );
  engine = await startTestEngine({ pipelines: [pipeline] });
});
afterAll(async () => {
  await engine?.cleanup();
  await rm(dir, { recursive: true, force: true });
});

describe('dicom_scp association limit', () => {
  it('refuses the association past the limit, transiently, and serves again later', async () => {
    const holder: Socket = connect(engine.dicomPort, '127.0.0.1');
    const accepted = new Promise<Buffer>((resolve) => holder.once('data', resolve));
    holder.on('error', () => undefined);
    holder.write(associateRq());
    expect((await accepted)[0]).toBe(0x02);

    const refused = await dcmtk('echoscu', ['-v', '-aec', 'SLUICE', '127.0.0.1', String(engine.dicomPort)]);
    expect(refused.code).not.toBe(0);
    expect(`${refused.stdout}${refused.stderr}`).toMatch(
      /Association Rejected[\s\S]*Rejected Transient[\s\S]*Local Limit Exceeded/,
    );

    holder.destroy();
    await new Promise((r) => setTimeout(r, 100));
    const ok = await dcmtk('echoscu', ['-aec', 'SLUICE', '127.0.0.1', String(engine.dicomPort)]);
    expect(ok.code).toBe(0);
  });
});
