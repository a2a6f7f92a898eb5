/**
 * Telling the truth about what runs: a source that cannot start stops the start with a clear message; a
 * source that fails while running fails alone (the others go on), shows as failed, makes health answer
 * 503, and is opened again; the engine stops cleanly on SIGTERM to `npm start`, and stops itself when npm
 * is killed outright.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startTestEngine, type TestEngine } from './helpers/engine.js';
import { dcmtk } from './helpers/dcmtk.js';
import { eventually } from './helpers/eventually.js';
import { makeInstance, newUid } from './fixtures/dicom-fixtures.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-supervision-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const listen = (port: number) =>
  new Promise<Server>((resolve) => {
    const s = createServer();
    s.listen(port, '127.0.0.1', () => resolve(s));
  });

describe('a source that cannot start', () => {
  it('stops the start, naming the pipeline, the source and the reason', async () => {
    const port = await freePort();
    const taken = await listen(port);
    try {
      await expect(startTestEngine({ dicomPort: port, dataDir: join(dir, 'taken') })).rejects.toThrow(
        /pipeline default: sources\[0\] \(dicom_scp\) cannot start: .*EADDRINUSE/,
      );
    } finally {
      taken.close();
    }
  });

  it('makes `sluice start` exit with a non-zero status and the message', async () => {
    const port = await freePort();
    const taken = await listen(port);
    try {
      const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'start'], {
        env: {
          ...process.env,
          SLUICE_DATA_DIR: join(dir, 'cli'),
          SLUICE_HTTP_PORT: '0',
          SLUICE_DICOM_PORT: String(port),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr!.on('data', (d) => (stderr += d));
      const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
      expect(code).not.toBe(0);
      expect(stderr).toMatch(/dicom_scp\) cannot start: .*EADDRINUSE/);
    } finally {
      taken.close();
    }
  });
});

describe('a source that fails while running', () => {
  let engine: TestEngine;
  beforeAll(async () => {
    engine = await startTestEngine({ dataDir: join(dir, 'running') });
  });
  afterAll(() => engine?.cleanup());

  const inboxState = async () => {
    const [pipeline] = (await (await engine.api('/api/pipelines')).json()) as Array<{
      healthy: boolean;
      components: Array<{ type: string; state?: string; error?: string }>;
    }>;
    return { healthy: pipeline.healthy, inbox: pipeline.components.find((c) => c.type === 'watch_folder')! };
  };

  it('fails alone, shows it, makes health 503, and comes back once it can', async () => {
    expect((await engine.api('/api/system/health')).status).toBe(200);
    expect((await inboxState()).inbox.state).toBe('running');
    // The inbox folder becomes a file: the watch cannot go on, nor be opened again, until it is a folder.
    const inbox = join(engine.dataDir, 'inbox');
    await rm(inbox, { recursive: true, force: true });
    await writeFile(inbox, 'not a folder');
    await eventually(async () => {
      const { healthy, inbox: source } = await inboxState();
      expect(healthy).toBe(false);
      expect(source.state).toBe('failed');
      expect(source.error).toMatch(/inbox/);
    });
    const health = await fetch(engine.url('/api/system/health'));
    expect(health.status).toBe(503);
    expect(await health.text()).toMatch(/sources\[2\] \(watch_folder\) is failed/);

    // Everyone else is served meanwhile: uploads and C-STORE.
    const upload = await engine.api('/api/images', { method: 'POST', body: new Uint8Array(makeInstance()) });
    expect(upload.status).toBe(201);
    const file = join(dir, 'sent.dcm');
    const sop = newUid();
    await writeFile(file, makeInstance({ sopInstanceUid: sop }));
    expect(
      (await dcmtk('storescu', ['-aec', 'SLUICE', '127.0.0.1', String(engine.dicomPort), file])).code,
    ).toBe(0);
    expect(await engine.imagesBySop(sop)).toHaveLength(1);

    await rm(inbox, { force: true });
    await eventually(async () => expect((await inboxState()).inbox.state).toBe('running'), 30_000);
    expect((await engine.api('/api/system/health')).status).toBe(200);
    const later = newUid();
    await writeFile(join(inbox, 'later.dcm'), makeInstance({ sopInstanceUid: later }));
    await eventually(async () => expect(await engine.imagesBySop(later)).toHaveLength(1));
  });
});

describe('stopping under npm start', () => {
  const startNpm = async (
    name: string,
  ): Promise<{ npm: ChildProcess; httpPort: number; engineExited: () => Promise<boolean> }> => {
    const httpPort = await freePort();
    const npm = spawn('npm', ['start'], {
      env: {
        ...process.env,
        SLUICE_DATA_DIR: join(dir, name),
        SLUICE_HTTP_PORT: String(httpPort),
        SLUICE_DICOM_PORT: String(await freePort()),
      },
      stdio: 'ignore',
    });
    await eventually(async () => {
      expect((await fetch(`http://127.0.0.1:${httpPort}/api/system/health`)).status).toBe(200);
    }, 30_000);
    const engineExited = async () =>
      fetch(`http://127.0.0.1:${httpPort}/api/system/health`).then(
        () => false,
        () => true,
      );
    return { npm, httpPort, engineExited };
  };

  it('stops the engine when npm gets SIGTERM', async () => {
    const { npm, engineExited } = await startNpm('sigterm');
    const exited = new Promise((resolve) => npm.once('exit', resolve));
    npm.kill('SIGTERM');
    await exited;
    await eventually(async () => expect(await engineExited()).toBe(true), 10_000);
  });

  it('stops the engine when npm is killed with SIGKILL', async () => {
    const { npm, engineExited } = await startNpm('sigkill');
    npm.kill('SIGKILL');
    await eventually(async () => expect(await engineExited()).toBe(true), 10_000);
  });
});
