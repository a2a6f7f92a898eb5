/**
 * Sluice as several processes on one Kafka (the suite's broker), MinIO, ClickHouse and PostgreSQL: one front
 * end (`SLUICE_ROLE=frontend`), two workers and one API process. storescu sends 1,000 instances over four
 * associations while one worker is killed with SIGKILL and started again; afterwards every acknowledged
 * instance is stored once, indexed once, classified and forwarded once to a DCMTK storescp. Then the front
 * end is killed in the middle of an association: what it acknowledged is not lost.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { AUTH, freePort } from './helpers/engine.js';
import { startEngineProcess } from './helpers/engine-process.js';
import { storedKeys, testS3Location } from './helpers/blobs.js';
import { testIndexVariable } from './helpers/index-engines.js';
import { testStateVariable } from './helpers/state-engines.js';
import { testBlobsVariable } from './helpers/blobs.js';
import { eventually, followStorescu, startStorescp, type RunningStorescp } from './helpers/peers.js';
import { writeStudy } from './fixtures/dicom-fixtures.js';

const children = new Set<ChildProcess>();
const dirs: string[] = [];
let storescp: RunningStorescp | undefined;
afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  await storescp?.stop();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

interface Member {
  role: string;
  dataDir: string;
  httpPort: number;
  dicomPort: number;
  child?: ChildProcess;
}

describe('scale-out on Kafka', () => {
  it('front end, two workers and an API process: a worker and the front end killed lose nothing, forward once', async () => {
    const root = await mkdtemp(join(tmpdir(), 'sluice-scale-'));
    dirs.push(root);
    // One name for the shared stores: the bucket prefix and the databases all processes use.
    const cluster = join(root, `cluster${Date.now().toString(36)}`);
    const shared = {
      ...testBlobsVariable(cluster),
      ...testIndexVariable(cluster),
      ...testStateVariable(cluster),
      SLUICE_BUS: inject('kafka').url,
      SLUICE_BUS_PARTITIONS: '4',
      // Batches are sent once the route is quiet: after the transfer, not during the kill below.
      SLUICE_FORWARD_QUIET_MS: '4000',
      SLUICE_FORWARD_BATCH_MAX: '2000',
    };
    const member = async (role: string): Promise<Member> => {
      const dataDir = join(root, `${role}-${Math.random().toString(36).slice(2, 8)}`);
      await mkdir(dataDir, { recursive: true });
      return { role, dataDir, httpPort: await freePort(), dicomPort: await freePort() };
    };
    const start = async (m: Member) => {
      m.child = await startEngineProcess(
        m.dataDir,
        m.httpPort,
        m.dicomPort,
        { ...shared, SLUICE_ROLE: m.role.replace(/[0-9]$/, '') },
        90_000,
      );
      children.add(m.child);
    };
    const kill = (m: Member) => {
      m.child!.kill('SIGKILL');
      children.delete(m.child!);
    };
    const api = await member('api');
    const worker1 = await member('worker1');
    const worker2 = await member('worker2');
    const frontend = await member('frontend');
    await start(api);
    await Promise.all([start(worker1), start(worker2), start(frontend)]);

    const url = (m: Member, path: string) => `http://127.0.0.1:${m.httpPort}${path}`;
    const json = async (m: Member, path: string, body?: unknown) => {
      const r = await fetch(url(m, path), {
        method: body === undefined ? 'GET' : 'POST',
        headers: { ...AUTH, 'Content-Type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      expect(r.status, `${path}: ${r.status}`).toBeLessThan(300);
      return (await r.json()) as any;
    };

    // Managed state made through the API process reaches the others without a restart.
    storescp = await startStorescp(root);
    const scu = await json(api, '/api/scus', {
      id: -1,
      name: 'archive',
      aeTitle: storescp.aeTitle,
      host: '127.0.0.1',
      port: storescp.port,
    });
    await json(api, '/api/forwarding/rules', {
      id: -1,
      source: { sourceType: 'scp', sourceName: 'DICOM SCP', sourceId: 1 },
      destination: { destinationType: 'scu', destinationName: 'archive', destinationId: scu.id },
      keepImages: true,
    });
    const type = await json(api, '/api/seriestypes', { id: -1, name: 'CT scale-out' });
    const rule = await json(api, '/api/seriestypes/rules', { id: -1, seriesTypeId: type.id });
    await json(api, `/api/seriestypes/rules/${rule.id}/attributes`, {
      id: -1,
      seriesTypeRuleId: rule.id,
      tag: 0x00080060,
      name: 'Modality',
      tagPath: null,
      namePath: null,
      values: 'CT',
      operator: 'equals',
    });
    await new Promise((r) => setTimeout(r, 2_000)); // the others read the state store again every second

    // 1,000 instances in 8 studies, over four associations.
    const studies = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        writeStudy(join(root, `src-${i}`), { series: 5, instancesPerSeries: 25, rows: 32, columns: 32 }),
      ),
    );
    const sopOf = new Map<string, string>();
    for (const s of studies) s.files.forEach((f, i) => sopOf.set(f, s.sopInstanceUids[i]));
    const files = studies.flatMap((s) => s.files);
    const senders = [0, 1, 2, 3].map((a) =>
      followStorescu([
        '-aec',
        'SLUICE',
        '127.0.0.1',
        String(frontend.dicomPort),
        ...files.filter((_, i) => i % 4 === a),
      ]),
    );
    const acked = () => senders.reduce((n, s) => n + s.acked.length, 0);
    while (acked() < 300) await new Promise((r) => setTimeout(r, 10));
    kill(worker1);
    await new Promise((r) => setTimeout(r, 1_500));
    await start(worker1);
    await Promise.all(senders.map((s) => s.exited));
    expect(senders.map((s) => s.failed())).toEqual([0, 0, 0, 0]);
    expect(acked()).toBe(1000);
    const sent = new Set(senders.flatMap((s) => s.acked.map((f) => sopOf.get(f)!)));

    const images = async () =>
      (await json(api, '/api/metadata/images/query', {
        startIndex: 0,
        count: 10_000,
        queryProperties: [],
      })) as Array<{ id: number; sopInstanceUID: { value: string } }>;
    await eventually('1,000 instances indexed', async () => (await images()).length >= 1000, 180_000);
    const indexed = (await images()).map((i) => i.sopInstanceUID.value);
    expect(indexed.length).toBe(1000); // indexed once
    expect(new Set(indexed)).toEqual(sent);
    const keys = await storedKeys(cluster);
    expect(keys.length).toBe(1000); // stored once
    expect(new Set(keys)).toEqual(sent);

    // Classified: every series has the type made through the API process.
    const flat = (await json(api, '/api/metadata/flatseries?count=1000')) as Array<{ id: number }>;
    expect(flat).toHaveLength(40);
    const labelled = await json(api, '/api/seriestypes/series/query', { ids: flat.map((f) => f.id) });
    expect(new Set(labelled.seriesIdSeriesTypes.map((s: any) => s.seriesId)).size).toBe(40);

    // Forwarded once: storescp keeps every copy it receives (+uf), so a second one would show.
    await eventually(
      '1,000 instances at storescp',
      async () => (await storescp!.sopInstanceUids()).length >= 1000,
      180_000,
    ).catch(async (err: Error) => {
      // What the outbox and the log say, to tell why.
      const batches = await json(api, '/api/forwarding/transactions?count=100');
      const logged = await json(api, '/api/log?count=20&subject=Forwarding');
      throw new Error(
        `${err.message}: ${(await storescp!.sopInstanceUids()).length} received; batches ${JSON.stringify(batches)}; log ${JSON.stringify(logged)}`,
      );
    });
    await new Promise((r) => setTimeout(r, 3_000));
    const received = await storescp.sopInstanceUids();
    expect(received.length).toBe(1000);
    expect(new Set(received)).toEqual(sent);

    // The workers' lag is visible, and nothing is left of the incoming objects once committed.
    await eventually(
      'no lag',
      async () => {
        const [p] = (await json(worker2, '/api/pipelines')) as any[];
        return p.bus?.worker === true && p.bus.lag?.length === 4 && p.bus.lag.every((l: any) => l.lag === 0);
      },
      30_000,
    );
    const location = testS3Location(cluster)!;
    const s3 = new S3Client({ forcePathStyle: true });
    await eventually('incoming objects removed', async () => {
      const listed = await s3.send(
        new ListObjectsV2Command({ Bucket: location.bucket, Prefix: `${location.prefix}incoming/` }),
      );
      return !listed.KeyCount;
    });

    // An upload through the front end answers with the worker's indexed image; the API process sends
    // uploads to a front end.
    const upload = await writeStudy(join(root, 'upload'), { instancesPerSeries: 1, rows: 16, columns: 16 });
    const body = await readFile(upload.files[0]);
    const uploaded = await fetch(url(frontend, '/api/images'), { method: 'POST', headers: AUTH, body });
    expect(uploaded.status).toBe(201);
    expect(((await uploaded.json()) as any).sopInstanceUID.value).toBe(upload.sopInstanceUids[0]);
    const refused = await fetch(url(api, '/api/images'), { method: 'POST', headers: AUTH, body });
    expect(refused.status).toBe(503);
    expect(await refused.text()).toMatch(/front end/);

    // What a process quarantines is kept in the shared area: listed and fetched through any process's API.
    const bad = await fetch(url(frontend, '/api/images'), {
      method: 'POST',
      headers: AUTH,
      body: Buffer.from('not a DICOM file '.repeat(40)),
    });
    expect(bad.status).toBe(400);
    const quarantined = (await json(api, '/api/quarantine')) as Array<{ id: string; source: any }>;
    expect(quarantined).toHaveLength(1);
    expect(quarantined[0].source.sourceType).toBe('user');
    expect((await json(worker2, `/api/quarantine/${quarantined[0].id}`)).id).toBe(quarantined[0].id);

    // Lag and the bus counters are metrics too.
    const metrics = await (await fetch(url(worker2, '/metrics'), { headers: AUTH })).text();
    expect(metrics).toMatch(/sluice_bus_consumer_lag\{pipeline="default",partition="0"\} 0/);
    expect(metrics).toMatch(/sluice_bus_role\{pipeline="default",role="worker"\} 1/);

    // The front end killed in the middle of an association: what it acknowledged is indexed.
    const late = await writeStudy(join(root, 'late'), {
      series: 2,
      instancesPerSeries: 100,
      rows: 32,
      columns: 32,
    });
    const lateSop = new Map(late.files.map((f, i) => [f, late.sopInstanceUids[i]]));
    const cut = followStorescu(['-aec', 'SLUICE', '127.0.0.1', String(frontend.dicomPort), ...late.files]);
    while (cut.acked.length < 50) await new Promise((r) => setTimeout(r, 5));
    kill(frontend);
    await cut.exited;
    const ackedLate = cut.acked.map((f) => lateSop.get(f)!);
    expect(ackedLate.length).toBeLessThan(late.files.length);
    await start(frontend);
    await eventually(
      'every acknowledged instance indexed',
      async () => {
        const all = new Set((await images()).map((i) => i.sopInstanceUID.value));
        return ackedLate.every((sop) => all.has(sop));
      },
      120_000,
    );
  }, 600_000);
});
