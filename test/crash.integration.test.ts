/**
 * kill -9 in the middle of a storescu transfer: everything storescu saw acknowledged is there after a
 * restart, and index and files agree.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AUTH, freePort } from './helpers/engine.js';
import { writeStudy } from './fixtures/dicom-fixtures.js';
import { startEngineProcess } from './helpers/engine-process.js';
import { storedKeys } from './helpers/blobs.js';
import { followStorescu } from './helpers/peers.js';

const children: ChildProcess[] = [];
const dirs: string[] = [];
afterAll(async () => {
  children.forEach((c) => c.kill('SIGKILL'));
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function startProcess(dataDir: string, httpPort: number, dicomPort: number): Promise<ChildProcess> {
  const child = await startEngineProcess(dataDir, httpPort, dicomPort);
  children.push(child);
  return child;
}

describe('crash safety', () => {
  it('loses nothing acknowledged when killed with SIGKILL mid-transfer', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'sluice-crash-'));
    const [httpPort, dicomPort] = [await freePort(), await freePort()];
    dirs.push(dataDir, join(dataDir, '..', `crash-src-${httpPort}`));
    const study = await writeStudy(join(dataDir, '..', `crash-src-${httpPort}`), {
      series: 2,
      instancesPerSeries: 100,
      rows: 256,
      columns: 256,
    });
    let engine = await startProcess(dataDir, httpPort, dicomPort);

    const { acked, exited } = followStorescu([
      '-aec',
      'SLUICE',
      '127.0.0.1',
      String(dicomPort),
      ...study.files,
    ]);

    while (acked.length < 40) await new Promise((r) => setTimeout(r, 5));
    engine.kill('SIGKILL');
    await exited;
    expect(acked.length).toBeLessThan(study.files.length);

    engine = await startProcess(dataDir, httpPort, dicomPort);
    const images = (await (
      await fetch(`http://127.0.0.1:${httpPort}/api/metadata/images/query`, {
        method: 'POST',
        headers: AUTH,
        body: JSON.stringify({ startIndex: 0, count: 10000, queryProperties: [] }),
      })
    ).json()) as Array<{ sopInstanceUID: { value: string } }>;
    const indexed = new Set(images.map((i) => i.sopInstanceUID.value));
    for (const file of acked) {
      const sop = study.sopInstanceUids[study.files.indexOf(file)];
      expect(indexed.has(sop), `acknowledged ${file} is missing`).toBe(true);
    }
    expect((await storedKeys(dataDir)).length).toBe(indexed.size);
    expect(await readdir(join(dataDir, 'landing', 'default'))).toEqual(['tmp']);
    engine.kill('SIGTERM');
  });
});
