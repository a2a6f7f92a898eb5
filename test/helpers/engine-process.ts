/** Sluice as a child process (`node --import tsx src/cli.ts start`), for tests that kill it with SIGKILL. */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { testBlobsVariable } from './blobs.js';
import { testIndexVariable } from './index-engines.js';
import { testStateVariable } from './state-engines.js';

export async function startEngineProcess(
  dataDir: string,
  httpPort: number,
  dicomPort: number,
  env: NodeJS.ProcessEnv = {},
  startTimeoutMs = 30_000,
): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'start'], {
    env: {
      ...process.env,
      SLUICE_DATA_DIR: dataDir,
      SLUICE_HTTP_PORT: String(httpPort),
      SLUICE_DICOM_PORT: String(dicomPort),
      SLUICE_ADMIN_PASSWORD: 'secret',
      ...testBlobsVariable(dataDir),
      ...testIndexVariable(dataDir),
      ...testStateVariable(dataDir),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stdout!.on('data', (d) => (log += d));
  child.stderr!.on('data', (d) => (log += d));
  const deadline = Date.now() + startTimeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`engine exited: ${log}`);
    const ok = await fetch(`http://127.0.0.1:${httpPort}/api/system/health`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return child;
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new Error(`engine did not start: ${log}`);
}

/**
 * `sluice start` as a process that is expected to stop by itself (a start refused): its exit code and what it
 * printed; killed after 30 s. Its data directory is a new folder under `dir`.
 */
export function startRefusedEngine(
  dir: string,
  env: Record<string, string>,
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'start'], {
      env: { ...process.env, SLUICE_DATA_DIR: join(dir, randomUUID()), SLUICE_HTTP_PORT: '0', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}
