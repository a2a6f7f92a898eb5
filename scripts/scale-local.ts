/**
 * `npm run scale:local -- [--workers N] [--frontends N] [--keep]`: Sluice as several processes on this
 * machine, the way a site runs it on several: MinIO (S3), ClickHouse, PostgreSQL and one Kafka broker started
 * on loopback (by the test suite's helpers: nothing to install by hand but Java, Go and the Debian packages
 * they fetch), then one API process, N workers and N front ends on them (the compiled engine, as `npm start`
 * runs it). Prints where each listens and the variables each was given; Ctrl-C stops everything and removes
 * the data, unless --keep.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startServices, SCALE } from '../bench/lib/services.js';
import { sluiceEnv, sluiceStartArgs } from '../bench/lib/engine.js';
import { freePorts, waitFor } from '../bench/lib/util.js';
import { startKafka } from '../test/helpers/kafka.js';

const { values } = parseArgs({
  options: {
    workers: { type: 'string', default: '2' },
    frontends: { type: 'string', default: '1' },
    keep: { type: 'boolean', default: false },
  },
});
const workers = Number(values.workers);
const frontends = Number(values.frontends);
if (!(workers >= 1 && frontends >= 1)) throw new Error('--workers and --frontends must be at least 1');

const root = await mkdtemp(join(tmpdir(), 'sluice-scale-local-'));
console.log(`starting MinIO, ClickHouse, PostgreSQL and Kafka (data under ${root})…`);
const [services, kafka] = await Promise.all([startServices(SCALE, join(root, 'minio')), startKafka()]);
const shared = {
  ...services.settings('site'),
  SLUICE_BUS: kafka.url,
  SLUICE_BUS_PARTITIONS: String(Math.max(12, workers * 2)),
};
const children: ChildProcess[] = [];

async function member(role: string, n: number): Promise<string> {
  const [httpPort, dicomPort] = await freePorts(2);
  const dataDir = join(root, `${role}-${n}`);
  await mkdir(dataDir, { recursive: true });
  const child = spawn(process.execPath, sluiceStartArgs(), {
    env: {
      ...sluiceEnv(dataDir, httpPort, dicomPort),
      ...shared,
      SLUICE_ROLE: role,
      SLUICE_ADMIN_PASSWORD: 'admin',
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  children.push(child);
  await waitFor(
    `${role} ${n} to answer`,
    async () =>
      (await fetch(`http://127.0.0.1:${httpPort}/api/system/health`).catch(() => undefined))?.ok || undefined,
    {
      timeoutMs: 90_000,
      failed: () => (child.exitCode !== null ? `exited with ${child.exitCode}` : undefined),
    },
  );
  const dicom = role === 'frontend' ? `, DICOM SLUICE@127.0.0.1:${dicomPort}` : '';
  return `${role} ${n}: http://127.0.0.1:${httpPort}${dicom} (pid ${child.pid})`;
}

async function stop(): Promise<void> {
  for (const c of children) c.kill('SIGTERM');
  await Promise.all(
    children.map((c) => new Promise((r) => (c.exitCode !== null ? r(0) : c.once('exit', r)))),
  );
  await kafka.stop();
  await services.stop();
  if (!values.keep) await rm(root, { recursive: true, force: true });
}
process.once('SIGINT', () => void stop().then(() => process.exit(0)));
process.once('SIGTERM', () => void stop().then(() => process.exit(0)));

try {
  // The API process first: it creates the schemas the others then find.
  const lines = [await member('api', 1)];
  lines.push(...(await Promise.all(Array.from({ length: workers }, (_, i) => member('worker', i + 1)))));
  lines.push(...(await Promise.all(Array.from({ length: frontends }, (_, i) => member('frontend', i + 1)))));
  console.log(`\nSluice on ${services.describe()}; ${kafka.url}\n${lines.join('\n')}`);
  console.log(
    `\nEvery process was given:\n${Object.entries(shared)
      .map(([k, v]) => `  ${k}=${v}`)
      .join(
        '\n',
      )}\nand SLUICE_ROLE, its own SLUICE_DATA_DIR and ports. User admin, password admin. Ctrl-C stops all.`,
  );
} catch (err) {
  console.error(err);
  await stop();
  process.exit(1);
}
