/**
 * The package as a newcomer gets it: `npm pack`, installed into an empty folder with npm (dependencies from
 * the registry, better-sqlite3 compiled), then `npx sluice` runs the compiled engine: help, version, a start
 * without tsx, an upload, readiness and a clean stop on SIGTERM. Takes two minutes, mostly the compile.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from './helpers/engine.js';
import { makeInstance } from './fixtures/dicom-fixtures.js';

const run = promisify(execFile);
const ROOT = process.cwd();
let dir: string;
let app: string;
let tarball: string;
let engine: ChildProcess | undefined;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-package-'));
  app = join(dir, 'app');
  // What npm install's prepare step built (dist/ui, dist/server), brought up to date: npm pack's own
  // prepare would rebuild the web UI under the browser tests running beside this one.
  await run('node', ['scripts/build.mjs'], { cwd: ROOT });
  const { stdout } = await run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dir], {
    cwd: ROOT,
    maxBuffer: 16 * 1024 * 1024,
  });
  const [packed] = JSON.parse(stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
  tarball = join(dir, packed.filename);
  const files = packed.files.map((f) => f.path);
  expect(files).toEqual(
    expect.arrayContaining([
      'bin/sluice.mjs',
      'dist/server/cli.js',
      'dist/server/main.js',
      'pipelines/default.yaml',
    ]),
  );
  expect(files.filter((f) => /^(src|test|bench)\/|\.map$/.test(f))).toEqual([]);
  await run('mkdir', ['-p', app]);
  await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'consumer', private: true }));
  await run('npm', ['install', tarball, '--no-audit', '--no-fund', '--loglevel=error'], {
    cwd: app,
    timeout: 9 * 60_000,
    maxBuffer: 16 * 1024 * 1024,
  });
}, 10 * 60_000);

afterAll(async () => {
  if (engine && engine.exitCode === null) process.kill(-engine.pid!, 'SIGKILL');
  await rm(dir, { recursive: true, force: true });
});

const npx = (args: string[]) =>
  run('npx', ['--no-install', 'sluice', ...args], {
    cwd: app,
    env: { ...process.env, PATH: process.env.PATH },
  });

describe('the packed package on a clean folder', () => {
  it('answers --version and --help through npx', async () => {
    const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    expect((await npx(['--version'])).stdout).toBe(`${pkg.version}\n`);
    expect((await npx(['--help'])).stdout).toContain('usage: sluice <command>');
    // No TypeScript at run time: the package ships compiled JavaScript and does not depend on tsx.
    const installed = JSON.parse(await readFile(join(app, 'node_modules/sluice/package.json'), 'utf8'));
    expect(Object.keys(installed.dependencies)).not.toContain('tsx');
  });

  it('starts with `npx sluice start` from another folder, stores an upload, is ready, and stops on SIGTERM', async () => {
    const [httpPort, dicomPort] = [await freePort(), await freePort()];
    const dataDir = join(dir, 'data');
    let output = '';
    const started = performance.now();
    engine = spawn('npx', ['--no-install', 'sluice', 'start', '--log-format', 'json'], {
      cwd: app,
      detached: true, // its own process group: npx does not pass signals on to the engine
      env: {
        ...process.env,
        SLUICE_DATA_DIR: dataDir,
        SLUICE_HTTP_PORT: String(httpPort),
        SLUICE_DICOM_PORT: String(dicomPort),
        SLUICE_ADMIN_PASSWORD: 'secret',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    engine.stdout!.on('data', (d) => (output += d));
    engine.stderr!.on('data', (d) => (output += d));
    const url = (path: string) => `http://127.0.0.1:${httpPort}${path}`;
    for (;;) {
      if (engine.exitCode !== null) throw new Error(`engine exited: ${output}`);
      if (
        await fetch(url('/api/system/ready')).then(
          (r) => r.ok,
          () => false,
        )
      )
        break;
      if (performance.now() - started > 60_000) throw new Error(`engine did not start: ${output}`);
      await new Promise((r) => setTimeout(r, 25));
    }
    const readyMs = performance.now() - started;
    const auth = { Authorization: `Basic ${Buffer.from('admin:secret').toString('base64')}` };
    const upload = await fetch(url('/api/images'), {
      method: 'POST',
      headers: auth,
      body: new Uint8Array(makeInstance()),
    });
    expect(upload.status).toBe(201);
    const info = (await (await fetch(url('/api/system/information'), { headers: auth })).json()) as any;
    expect(info.counts.images).toBe(1);
    expect(info.dataDir).toBe(dataDir);
    expect(info.pipelines[0].file).toBe(join(app, 'node_modules/sluice/pipelines/default.yaml'));
    // The web UI ships built in the package and is served from it.
    const page = await fetch(url('/'));
    expect(page.status).toBe(200);
    expect(await page.text()).not.toContain('its web UI is not built');
    const lines = output
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { msg: string });
    expect(lines.map((l) => l.msg)).toContain('Sluice started');
    console.log(`packed engine: ready ${Math.round(readyMs)} ms after \`npx sluice start\``);

    // npx and the engine share the group; npx itself dies of the signal, the engine stops cleanly.
    const exited = new Promise<void>((resolve) => engine!.once('exit', () => resolve()));
    process.kill(-engine.pid!, 'SIGTERM');
    await exited;
    for (
      let i = 0;
      i < 100 &&
      (await fetch(url('/api/system/health')).then(
        () => true,
        () => false,
      ));
      i++
    )
      await new Promise((r) => setTimeout(r, 50));
    expect(
      await fetch(url('/api/system/health')).then(
        () => 'answering',
        () => 'closed',
      ),
    ).toBe('closed');
    expect(output).toContain('"msg":"stopping"');
  });
});
