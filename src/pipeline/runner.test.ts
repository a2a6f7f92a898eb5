import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { afterAll, describe, expect, it } from 'vitest';
import { Observable } from 'rxjs';
import { defineSink, defineSource } from './component.js';
import type { Envelope } from './envelope.js';
import { SluiceError } from '../errors.js';
import { PipelineRunner } from './runner.js';
import type { PipelineSpec } from './pipeline-file.js';
import { Quarantine } from './quarantine.js';
import { UploadRegistry, type EngineServices } from './services.js';
import { drop, perItem } from './settle.js';
import { makeInstance } from '../../test/fixtures/dicom-fixtures.js';
import { drivenSource } from '../../test/helpers/driven-source.js';

/** A sink that holds envelopes until released, and fails or drops by patient ID. */
function testSink() {
  const seen: Envelope[] = [];
  const gates: Array<() => void> = [];
  let hold = false;
  const def = defineSink({
    type: 'test_sink',
    summary: 'test sink',
    config: z.strictObject({}),
    example: {},
    create: (_c, ctx) =>
      perItem(
        ctx,
        async (e) => {
          if (hold) await new Promise<void>((r) => gates.push(r));
          const pid = (e.header.dataset['00100020']?.Value?.[0] as string) ?? '';
          if (pid === 'FAIL') throw new SluiceError('TEST.FAIL', 'told to fail', 500);
          if (pid === 'DROP') return drop('told to drop');
          seen.push(e);
          return e;
        },
        { concurrency: 64 },
      ),
  });
  return { def, seen, gates, setHold: (h: boolean) => (hold = h) };
}

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function setup(maxInFlight = 4) {
  const dataDir = await mkdtemp(join(tmpdir(), 'sluice-runner-'));
  dirs.push(dataDir);
  const services = {
    config: { dataDir },
    quarantine: new Quarantine(join(dataDir, 'quarantine')),
    uploads: new UploadRegistry(),
  } as unknown as EngineServices;
  const source = drivenSource();
  const sink = testSink();
  const spec: PipelineSpec = {
    file: 'test.yaml',
    name: 'test',
    maxInFlight,
    sources: [{ kind: 'source', path: 'sources[0]', def: source.def, config: {} }],
    operators: [],
    sinks: [{ kind: 'sink', path: 'sinks[0]', def: sink.def, config: {} }],
  };
  const runner = new PipelineRunner(spec, services);
  await runner.start();
  return { runner, source, sink, dataDir, services };
}

describe('PipelineRunner', () => {
  it('acks after the last sink and removes the landed file', async () => {
    const { runner, source, sink, dataDir } = await setup();
    const outcome = await source.feed(makeInstance({ patientId: 'OK' }));
    expect(outcome.kind).toBe('ack');
    expect(sink.seen).toHaveLength(1);
    expect(await readdir(join(dataDir, 'landing', 'test'))).toEqual(['tmp']);
    expect(runner.status()).toMatchObject({ acknowledged: 1, inFlight: 0 });
  });

  it('settles drops as success and failures as quarantine, each exactly once', async () => {
    const { runner, source, services } = await setup();
    expect((await source.feed(makeInstance({ patientId: 'DROP' }))).kind).toBe('drop');
    const failed = await source.feed(makeInstance({ patientId: 'FAIL' }));
    expect(failed.kind).toBe('quarantine');
    const records = await services.quarantine.list();
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({
      code: 'TEST.FAIL',
      component: 'sinks[0]',
      source: { sourceType: 'user', sourceId: 7 },
    });
    expect(JSON.stringify(records)).not.toContain('FAIL\\'); // no patient ID in the record
    const sink = runner.status().components.find((c) => c.path === 'sinks[0]')!;
    expect(sink.counters).toMatchObject({ received: 2, dropped: 1, quarantined: 1, emitted: 0 });
  });

  it('quarantines unreadable input at ingress with the reason', async () => {
    const { source, services } = await setup();
    const outcome = await source.feed(Buffer.from('not dicom'));
    expect(outcome.kind).toBe('quarantine');
    const [record] = await services.quarantine.list();
    expect(record.code).toBe('DICOM.INVALID');
    expect(record.component).toBe('sources[0]');
  });

  it('lands objects held in memory only when it must: quarantine, or no sink made them durable', async () => {
    const { source, sink, services, dataDir } = await setup();
    const landing = join(dataDir, 'landing', 'test');
    // Acknowledged without storage: the held bytes are landed and fsynced before the answer, then released.
    const ok = makeInstance({ patientId: 'OK' });
    expect((await source.feed(ok, undefined, { held: true })).kind).toBe('ack');
    expect(sink.seen[0]!.content?.equals(ok)).toBe(true);
    expect(await readdir(landing)).toEqual(['tmp']);
    // Failed in a sink, and unreadable at ingress: the quarantine holds the bytes as received.
    const failing = makeInstance({ patientId: 'FAIL' });
    expect((await source.feed(failing, undefined, { held: true })).kind).toBe('quarantine');
    expect((await source.feed(Buffer.from('not dicom'), undefined, { held: true })).kind).toBe('quarantine');
    const records = await services.quarantine.list();
    expect(records.map((r) => r.code).sort()).toEqual(['DICOM.INVALID', 'TEST.FAIL']);
    const bytes = await Promise.all(records.map((r) => readFile(services.quarantine.filePath(r.id))));
    expect(bytes.some((b) => b.equals(failing))).toBe(true);
    expect(bytes.some((b) => b.equals(Buffer.from('not dicom')))).toBe(true);
    expect(await readdir(landing)).toEqual(['tmp']);
    expect(await readdir(join(landing, 'tmp'))).toEqual([]);
  });

  it('bounds envelopes in flight and makes sources wait for room', async () => {
    const { runner, source, sink } = await setup(2);
    sink.setHold(true);
    const outcomes = [0, 1, 2].map(() => source.feed(makeInstance()));
    while (sink.gates.length < 2) await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setTimeout(r, 50));
    expect(runner.status().inFlight).toBe(2);
    expect(sink.gates).toHaveLength(2);
    let roomFree = false;
    void source.room().then(() => (roomFree = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(roomFree).toBe(false);
    sink.setHold(false);
    sink.gates.splice(0).forEach((g) => g());
    const results = await Promise.all(outcomes);
    expect(results.map((r) => r.kind)).toEqual(['ack', 'ack', 'ack']);
    expect(runner.status().inFlight).toBe(0);
  });

  it('waits for what operators and sinks prepare before opening the sources; a failure stops the start', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'sluice-runner-'));
    dirs.push(dataDir);
    const services = {
      config: { dataDir },
      quarantine: new Quarantine(join(dataDir, 'quarantine')),
      uploads: new UploadRegistry(),
    } as unknown as EngineServices;
    const opened: string[] = [];
    const source = defineSource({
      type: 'test_source',
      summary: 'records its opening',
      config: z.strictObject({}),
      example: {},
      create: () => new Observable<Envelope>(() => void opened.push('source')),
    });
    const preparingSink = (ready: () => Promise<unknown>) =>
      defineSink({
        type: 'preparing_sink',
        summary: 'prepares before it takes envelopes',
        config: z.strictObject({}),
        example: {},
        create: (_c, ctx) => {
          ctx.preparing(ready().then(() => opened.push('prepared')));
          return (envelopes) => envelopes;
        },
      });
    const runnerWith = (ready: () => Promise<unknown>) =>
      new PipelineRunner(
        {
          file: 'test.yaml',
          name: 'test',
          maxInFlight: 4,
          sources: [{ kind: 'source', path: 'sources[0]', def: source, config: {} }],
          operators: [],
          sinks: [{ kind: 'sink', path: 'sinks[0]', def: preparingSink(ready), config: {} }],
        },
        services,
      );
    const ok = runnerWith(() => new Promise((resolve) => setTimeout(resolve, 20)));
    await ok.start();
    expect(opened).toEqual(['prepared', 'source']);
    await ok.stop();
    opened.length = 0;
    const failing = runnerWith(() => Promise.reject(new Error('state store unreachable')));
    await expect(failing.start()).rejects.toThrow('state store unreachable');
    expect(opened).toEqual([]);
  });

  it('re-processes files left in landing by a crash', async () => {
    const { dataDir, runner } = await setup();
    await runner.stop();
    const dir = join(dataDir, 'landing', 'test');
    await writeFile(join(dir, 'crash1.user.7.dcm'), makeInstance({ patientId: 'LEFT' }));
    await writeFile(join(dir, 'tmp', 'partial'), Buffer.from('half written'));
    const services = {
      config: { dataDir },
      quarantine: new Quarantine(join(dataDir, 'quarantine')),
      uploads: new UploadRegistry(),
    } as unknown as EngineServices;
    const source = drivenSource();
    const sink = testSink();
    const again = new PipelineRunner(
      {
        file: 'test.yaml',
        name: 'test',
        maxInFlight: 4,
        sources: [{ kind: 'source', path: 'sources[0]', def: source.def, config: {} }],
        operators: [],
        sinks: [{ kind: 'sink', path: 'sinks[0]', def: sink.def, config: {} }],
      },
      services,
    );
    await again.start();
    expect(sink.seen.map((e) => e.origin)).toEqual([
      expect.objectContaining({ sourceType: 'user', sourceId: 7 }),
    ]);
    expect((await readdir(dir)).sort()).toEqual(['tmp']);
    expect(await readdir(join(dir, 'tmp'))).toEqual([]);
  });
});
