/**
 * How the benchmarks start Sluice: as `npm start` does (the compiled engine in dist/server, built first when
 * a source is newer), so that start-up and CPU figures are what a user gets, not tsx's.
 */
import { execFileSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
let built = false;

/** Arguments for `process.execPath` that start the engine; `npm run build` runs once per bench process. */
export function sluiceStartArgs(): string[] {
  if (!built) {
    execFileSync(process.execPath, [join(REPO_ROOT, 'scripts', 'build.mjs')], { stdio: 'ignore' });
    built = true;
  }
  return ['--enable-source-maps', join(REPO_ROOT, 'dist', 'server', 'cli.js'), 'start'];
}

/** What the reports print as the command. */
export const SLUICE_COMMAND = 'node --enable-source-maps dist/server/cli.js start (as npm start)';

/** The environment of a benchmarked engine: its data directory and ports, as `npm start` would run it. */
export function sluiceEnv(dataDir: string, httpPort: number, dicomPort: number): NodeJS.ProcessEnv {
  return {
    ...process.env,
    SLUICE_DATA_DIR: dataDir,
    SLUICE_HTTP_PORT: String(httpPort),
    SLUICE_DICOM_PORT: String(dicomPort),
    SLUICE_AE_TITLE: 'SLUICE',
    SLUICE_ADMIN_PASSWORD: 'bench-secret',
    UV_THREADPOOL_SIZE: process.env.UV_THREADPOOL_SIZE ?? '16',
  };
}
