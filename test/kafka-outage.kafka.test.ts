/**
 * Kafka stopped under a process that runs both halves of the pipeline over the bus (`frontend,worker`), on
 * MinIO, ClickHouse and PostgreSQL: instances are refused while the broker is down (nothing acknowledged),
 * health names Kafka, and after the broker's restart health recovers without traffic and ingest resumes. A
 * start with the broker unreachable is refused, naming it.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AUTH, freePort } from './helpers/engine.js';
import { startEngineProcess, startRefusedEngine } from './helpers/engine-process.js';
import { startKafka, type KafkaBroker } from './helpers/kafka.js';
import { eventually, followStorescu } from './helpers/peers.js';
import { writeStudy } from './fixtures/dicom-fixtures.js';
import { testBlobsVariable } from './helpers/blobs.js';
import { testIndexVariable } from './helpers/index-engines.js';
import { testStateVariable } from './helpers/state-engines.js';

let broker: KafkaBroker | undefined;
let engine: ChildProcess | undefined;
const dirs: string[] = [];
afterAll(async () => {
  engine?.kill('SIGKILL');
  await broker?.stop();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('Kafka outage', () => {
  it('refuses instances while the broker is down, names it in health, and resumes after its restart', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-kafka-outage-'));
    dirs.push(dir);
    broker = await startKafka();
    const dataDir = join(dir, `engine${Date.now().toString(36)}`);
    const [httpPort, dicomPort] = [await freePort(), await freePort()];
    engine = await startEngineProcess(dataDir, httpPort, dicomPort, {
      SLUICE_ROLE: 'frontend,worker',
      SLUICE_BUS: broker.url,
      SLUICE_BUS_PARTITIONS: '2',
    });
    const api = (path: string) => fetch(`http://127.0.0.1:${httpPort}${path}`, { headers: AUTH });
    const indexed = async () =>
      (
        (await (
          await fetch(`http://127.0.0.1:${httpPort}/api/metadata/images/query`, {
            method: 'POST',
            headers: { ...AUTH, 'Content-Type': 'application/json' },
            body: JSON.stringify({ startIndex: 0, count: 1000, queryProperties: [] }),
          })
        ).json()) as unknown[]
      ).length;
    const send = async (files: string[]) => {
      const run = followStorescu(['-aec', 'SLUICE', '127.0.0.1', String(dicomPort), ...files]);
      await run.exited;
      return { acked: run.acked.length, failed: run.failed() };
    };
    const study = await writeStudy(join(dir, 'src'), {
      series: 1,
      instancesPerSeries: 13,
      rows: 16,
      columns: 16,
    });

    expect(await send(study.files.slice(0, 5))).toEqual({ acked: 5, failed: 0 });
    await eventually('5 indexed', async () => (await indexed()) === 5);

    await broker.crash();
    // Refused (0xA700): storescu ends the association at the first failure.
    const down = await send(study.files.slice(5, 8));
    expect(down.acked).toBe(0);
    expect(down.failed).toBeGreaterThan(0);
    const health = await api('/api/system/health');
    expect(health.status).toBe(503);
    expect(await health.text()).toMatch(/Kafka at 127\.0\.0\.1/);

    await broker.restart();
    await eventually(
      'health without Kafka problems',
      async () => (await api('/api/system/health')).ok,
      60_000,
    );
    expect(await send(study.files.slice(8))).toEqual({ acked: 5, failed: 0 });
    await eventually('10 indexed', async () => (await indexed()) === 10, 60_000);

    // A start with the broker unreachable is refused, naming it.
    const closed = await freePort();
    const refused = await startRefusedEngine(dir, {
      SLUICE_ROLE: 'worker',
      SLUICE_BUS: `kafka://127.0.0.1:${closed}`,
      ...testBlobsVariable(dataDir),
      ...testIndexVariable(dataDir),
      ...testStateVariable(dataDir),
    });
    expect(refused.code).toBe(1);
    expect(refused.output).toMatch(new RegExp(`Kafka at 127\\.0\\.0\\.1:${closed} is unreachable`));
  }, 240_000);
});
