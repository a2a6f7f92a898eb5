/**
 * kill -9 in the middle of a storescu transfer: everything storescu saw acknowledged is there after a
 * restart, and index and files agree.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AUTH, freePort } from './helpers/engine.js';
import { writeStudy } from './fixtures/dicom-fixtures.js';

const children: ChildProcess[] = [];
const dirs: string[] = [];
afterAll(async () => {
  children.forEach((c) => c.kill('SIGKILL'));
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function startProcess(dataDir: string, httpPort: number, dicomPort: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'start'], {
    env: {
      ...process.env,
      SLUICE_DATA_DIR: dataDir,
      SLUICE_HTTP_PORT: String(httpPort),
      SLUICE_DICOM_PORT: String(dicomPort),
      SLUICE_ADMIN_PASSWORD: 'secret',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let log = '';
  child.stdout!.on('data', (d) => (log += d));
  child.stderr!.on('data', (d) => (log += d));
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`engine exited: ${log}`);
    const ok = await fetch(`http://127.0.0.1:${httpPort}/api/system/health`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return child;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`engine did not start: ${log}`);
}

async function countFiles(dir: string): Promise<number> {
  let n = 0;
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true }))
    if (e.isFile() && e.name.endsWith('.dcm') && !e.name.startsWith('.')) n++;
  return n;
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

    const acked: string[] = [];
    const storescu = spawn(
      'storescu',
      ['-v', '-aec', 'SLUICE', '127.0.0.1', String(dicomPort), ...study.files],
      {
        env: { ...process.env, TCP_NODELAY: '1' },
      },
    );
    let out = '';
    let current = '';
    const onData = (d: Buffer) => {
      out += d.toString();
      let nl: number;
      while ((nl = out.indexOf('\n')) >= 0) {
        const line = out.slice(0, nl);
        out = out.slice(nl + 1);
        const sending = /Sending file: (.*)$/.exec(line);
        if (sending) current = sending[1].trim();
        if (/Received Store Response \(Success\)/.test(line) && current) acked.push(current);
      }
    };
    storescu.stdout.on('data', onData);
    storescu.stderr.on('data', onData);
    const exited = new Promise((r) => storescu.once('exit', r));

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
    expect(await countFiles(join(dataDir, 'storage'))).toBe(indexed.size);
    expect(await readdir(join(dataDir, 'landing', 'default'))).toEqual(['tmp']);
    engine.kill('SIGTERM');
  });
});
