import { mkdir, mkdtemp, open, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { defineSink } from '../pipeline/component.js';
import type { Envelope } from '../pipeline/envelope.js';
import { SluiceError } from '../errors.js';
import { PipelineRunner } from '../pipeline/runner.js';
import type { PipelineSpec } from '../pipeline/pipeline-file.js';
import { Quarantine } from '../pipeline/quarantine.js';
import { UploadRegistry, type EngineServices } from '../pipeline/services.js';
import { drop, perItem } from '../pipeline/settle.js';
import { makeInstance, newUid, writeStudy } from '../../test/fixtures/dicom-fixtures.js';
import { watchFolder } from './watch-folder.js';

interface Recorded {
  envelope: Envelope;
  /** The landed bytes as the sink saw them. */
  bytes: Buffer;
}

/**
 * Records what reaches the end of the pipeline; fails or drops the SOP instance UIDs it is told to, and
 * holds every envelope while `gate` is set.
 */
function recordingSink() {
  const seen: Recorded[] = [];
  const failUids = new Set<string>();
  const dropUids = new Set<string>();
  const control = { arrived: 0, gate: undefined as Promise<void> | undefined };
  const def = defineSink({
    type: 'recording_sink',
    summary: 'records envelopes for the test',
    config: z.strictObject({}),
    example: {},
    create: (_config, ctx) =>
      perItem(
        ctx,
        async (envelope) => {
          control.arrived++;
          await control.gate;
          if (failUids.has(envelope.header.sopInstanceUid))
            throw new SluiceError('TEST.FAIL', 'told to fail this instance', 500);
          if (dropUids.has(envelope.header.sopInstanceUid)) return drop('told to drop this instance');
          seen.push({ envelope, bytes: await readFile(envelope.path) });
          return envelope;
        },
        { concurrency: 8 },
      ),
  });
  return { def, seen, failUids, dropUids, control };
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  vi.restoreAllMocks();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

type Options = Record<string, unknown>;

async function setup(
  options: Options | ((inbox: string) => Options) = {},
  prepare?: (inbox: string) => Promise<void>,
) {
  const tmp = await mkdtemp(join(tmpdir(), 'sluice-watch-'));
  cleanups.push(() => rm(tmp, { recursive: true, force: true }));
  const inbox = join(tmp, 'inbox');
  await prepare?.(inbox);
  const quarantine = new Quarantine(join(tmp, 'quarantine'));
  // watch_folder uses only the configuration, the quarantine and landing.
  const services = {
    config: { dataDir: tmp } as EngineServices['config'],
    quarantine,
    uploads: new UploadRegistry(),
  } as unknown as EngineServices;
  const sink = recordingSink();
  const config = watchFolder.config.parse({
    path: inbox,
    name: 'test inbox',
    source_id: 5,
    stable_ms: 300,
    poll_interval_ms: 25,
    ...(typeof options === 'function' ? options(inbox) : options),
  });
  const spec: PipelineSpec = {
    file: 'test.yaml',
    name: 'test',
    maxInFlight: 8,
    sources: [{ kind: 'source', path: 'sources[0]', def: watchFolder, config }],
    operators: [],
    sinks: [{ kind: 'sink', path: 'sinks[0]', def: sink.def, config: {} }],
  };
  const runner = new PipelineRunner(spec, services);
  await runner.start();
  cleanups.push(async () => void (await runner.stop()));
  return { tmp, inbox, runner, sink, quarantine };
}

/** Polls until `check` passes (returns without throwing), or fails with its last error at the deadline. */
async function eventually(check: () => unknown | Promise<unknown>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await check();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 25));
    }
  }
}

/** Polls for `ms` and fails as soon as `check` does: for things that must not happen. */
async function throughout(ms: number, check: () => unknown | Promise<unknown>): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    await check();
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Files under `dir`, relative to it, sorted. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort();
}

async function writeFileIn(path: string, bytes: Buffer): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, bytes);
}

const uidsSeen = (sink: ReturnType<typeof recordingSink>) =>
  sink.seen.map((r) => r.envelope.header.sopInstanceUid).sort();

describe('watch_folder', () => {
  it('imports files already in the folder and deletes them once stored; skips hidden and partial files', async () => {
    let study: Awaited<ReturnType<typeof writeStudy>> | undefined;
    const originals = new Map<string, Buffer>();
    const { inbox, tmp, sink } = await setup({}, async (inbox) => {
      study = await writeStudy(join(inbox, 'study'), { instancesPerSeries: 3 });
      for (const [i, file] of study.files.entries())
        originals.set(study.sopInstanceUids[i], await readFile(file));
      await writeFileIn(join(inbox, '.hidden.dcm'), makeInstance());
      await writeFileIn(join(inbox, 'upload.dcm.part'), makeInstance());
    });

    await eventually(async () => {
      expect(sink.seen).toHaveLength(3);
      expect(await filesUnder(inbox)).toEqual(['.hidden.dcm', 'upload.dcm.part']);
    });
    expect(uidsSeen(sink)).toEqual([...study!.sopInstanceUids].sort());
    for (const { envelope, bytes } of sink.seen) {
      expect(bytes.equals(originals.get(envelope.header.sopInstanceUid)!)).toBe(true);
      expect(envelope.size).toBe(bytes.length);
      expect(envelope.origin).toMatchObject({
        sourceType: 'directory',
        sourceId: 5,
        sourceName: 'test inbox',
      });
      expect(envelope.origin.detail).toMatch(/^study\/\d\.dcm$/);
    }
    // Nothing left behind in landing once every envelope is acknowledged.
    await eventually(async () => expect(await filesUnder(join(tmp, 'landing', 'test'))).toEqual([]));
  });

  it('imports files written later exactly once, including new sub-folders and slow writers', async () => {
    const { inbox, sink } = await setup();
    await eventually(async () => expect((await stat(inbox)).isDirectory()).toBe(true));

    const nestedUid = newUid();
    const nested = makeInstance({ sopInstanceUid: nestedUid });
    await writeFileIn(join(inbox, 'later', 'deep', 'a.dcm'), nested);

    // Written in chunks with pauses shorter than stable_ms: must be taken once, complete.
    const slowUid = newUid();
    const slow = makeInstance({ sopInstanceUid: slowUid, rows: 128, columns: 128 });
    const handle = await open(join(inbox, 'slow.dcm'), 'w');
    const chunk = Math.ceil(slow.length / 8);
    for (let offset = 0; offset < slow.length; offset += chunk) {
      await handle.write(slow.subarray(offset, offset + chunk));
      await handle.sync();
      await new Promise((r) => setTimeout(r, 120));
    }
    await handle.close();

    await eventually(async () => {
      expect(uidsSeen(sink)).toEqual([nestedUid, slowUid].sort());
      expect(await filesUnder(inbox)).toEqual([]);
    });
    await throughout(600, () => expect(sink.seen).toHaveLength(2));
    const bytesOf = (uid: string) => sink.seen.find((r) => r.envelope.header.sopInstanceUid === uid)!;
    expect(bytesOf(slowUid).bytes.equals(slow)).toBe(true);
    expect(bytesOf(slowUid).envelope.size).toBe(slow.length);
    expect(bytesOf(nestedUid).bytes.equals(nested)).toBe(true);
    expect(bytesOf(nestedUid).envelope.origin.detail).toBe(join('later', 'deep', 'a.dcm'));
  });

  it('ignores changes to a file while it is being imported', async () => {
    const { inbox, sink } = await setup();
    let open = () => undefined as void;
    sink.control.gate = new Promise<void>((r) => (open = r));
    const bytes = makeInstance();
    await writeFileIn(join(inbox, 'busy.dcm'), bytes);
    await eventually(() => expect(sink.control.arrived).toBe(1));
    await writeFile(join(inbox, 'busy.dcm'), bytes); // a 'change' once stable again
    await throughout(900, () => expect(sink.control.arrived).toBe(1));
    open();
    await eventually(async () => {
      expect(sink.seen).toHaveLength(1);
      expect(await filesUnder(inbox)).toEqual([]);
    });
    await throughout(600, () => expect(sink.control.arrived).toBe(1));
  });

  it('skips quietly a file that vanishes before it is read', async () => {
    const warn = vi.spyOn(console, 'warn');
    const { inbox, runner, sink, quarantine } = await setup({ concurrency: 1 });
    let open = () => undefined as void;
    sink.control.gate = new Promise<void>((r) => (open = r));
    await writeFileIn(join(inbox, 'first.dcm'), makeInstance());
    await eventually(() => expect(sink.control.arrived).toBe(1));
    await writeFileIn(join(inbox, 'gone.dcm'), makeInstance());
    // Queued behind the held file (concurrency 1) once stable, then removed by someone else.
    await throughout(900, () => expect(sink.control.arrived).toBe(1));
    await rm(join(inbox, 'gone.dcm'));
    open();
    await eventually(async () => expect(await filesUnder(inbox)).toEqual([]));
    await throughout(300, () => expect(sink.seen).toHaveLength(1));
    expect(await quarantine.list()).toEqual([]);
    expect(warn).not.toHaveBeenCalled();
    expect(runner.status().components[0].counters.errors).toBe(0);
  });

  it('quarantines non-DICOM, truncated and rejected files with the reason, and removes them from the folder', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    const { inbox, sink, quarantine } = await setup();
    const rejectedUid = newUid();
    const droppedUid = newUid();
    sink.failUids.add(rejectedUid);
    sink.dropUids.add(droppedUid);
    const whole = makeInstance();
    await writeFileIn(join(inbox, 'notes.txt'), Buffer.from('this is not a DICOM file'));
    await writeFileIn(join(inbox, 'cut', 'truncated.dcm'), whole.subarray(0, whole.length - 1000));
    await writeFileIn(join(inbox, 'rejected.dcm'), makeInstance({ sopInstanceUid: rejectedUid }));
    await writeFileIn(join(inbox, 'dropped.dcm'), makeInstance({ sopInstanceUid: droppedUid }));

    await eventually(async () => {
      expect(await quarantine.list()).toHaveLength(3);
      expect(await filesUnder(inbox)).toEqual([]);
    });
    expect(sink.seen).toHaveLength(0);
    const records = new Map((await quarantine.list()).map((r) => [r.detail, r]));
    expect(records.get('notes.txt')).toMatchObject({ code: 'DICOM.INVALID', component: 'sources[0]' });
    expect(records.get('notes.txt')!.message).toContain('DICM');
    expect(records.get(join('cut', 'truncated.dcm'))).toMatchObject({ code: 'DICOM.INVALID' });
    expect(records.get(join('cut', 'truncated.dcm'))!.message).toContain('truncated');
    expect(records.get('rejected.dcm')).toMatchObject({
      code: 'TEST.FAIL',
      component: 'sinks[0]',
      sopInstanceUID: rejectedUid,
      source: { sourceType: 'directory', sourceId: 5, sourceName: 'test inbox' },
    });
    for (const record of records.values()) {
      expect((await readFile(quarantine.filePath(record.id))).length).toBeGreaterThan(0);
      expect(warn.mock.calls.some(([line]) => String(line).includes(record.id))).toBe(true);
    }
  });

  it('moves imported and quarantined files to move_to, keeping relative paths and existing files', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    const original = makeInstance();
    const { inbox, sink, quarantine } = await setup(
      (inbox) => ({ after_import: 'move', move_to: join(inbox, 'done') }),
      async (inbox) => {
        await writeFileIn(join(inbox, 'a', 'one.dcm'), original);
        await writeFileIn(join(inbox, 'bad.txt'), Buffer.from('not DICOM'));
        // Already in move_to (inside the watched folder): neither imported nor overwritten.
        await writeFileIn(join(inbox, 'done', 'a', 'one.dcm'), Buffer.from('older'));
      },
    );
    const later = makeInstance();
    await writeFileIn(join(inbox, 'b', 'two.dcm'), later);

    const expected = [
      join('done', 'a', 'one-1.dcm'),
      join('done', 'a', 'one.dcm'),
      join('done', 'b', 'two.dcm'),
      join('done', 'bad.txt'),
    ];
    await eventually(async () => {
      expect(sink.seen).toHaveLength(2);
      expect(await filesUnder(inbox)).toEqual(expected);
    });
    expect(await readFile(join(inbox, 'done', 'a', 'one.dcm'), 'utf8')).toBe('older');
    expect((await readFile(join(inbox, 'done', 'a', 'one-1.dcm'))).equals(original)).toBe(true);
    expect((await readFile(join(inbox, 'done', 'b', 'two.dcm'))).equals(later)).toBe(true);
    await throughout(600, async () => {
      expect(sink.seen).toHaveLength(2);
      expect((await quarantine.list()).map((r) => r.detail)).toEqual(['bad.txt']);
    });
  });

  it('rejects after_import "move" without move_to', () => {
    const result = watchFolder.config.safeParse({ path: '/in', after_import: 'move' });
    expect(result.success).toBe(false);
    expect(result.error!.issues[0]).toMatchObject({ path: ['move_to'] });
    expect(result.error!.issues[0].message).toContain('after_import is "move"');
    expect(watchFolder.config.safeParse({ path: '/in', after_import: 'move', move_to: '/in' }).success).toBe(
      false,
    );
    expect(
      watchFolder.config.safeParse({ path: '/in', after_import: 'move', move_to: '/in/done' }).success,
    ).toBe(true);
    expect(watchFolder.config.parse({ path: '/in' })).toMatchObject({
      after_import: 'delete',
      concurrency: 4,
      stable_ms: 1000,
    });
  });

  it('closes the watcher on unsubscribe: files added afterwards stay where they are', async () => {
    const { inbox, runner, sink } = await setup();
    const uid = newUid();
    await writeFileIn(join(inbox, 'first.dcm'), makeInstance({ sopInstanceUid: uid }));
    // Settled and removed, not only seen by the sink: stopping in between would keep the original.
    await eventually(async () => {
      expect(uidsSeen(sink)).toEqual([uid]);
      expect(await filesUnder(inbox)).toEqual([]);
    });
    await runner.stop();
    await writeFileIn(join(inbox, 'after.dcm'), makeInstance());
    await throughout(1000, async () => {
      expect(sink.seen).toHaveLength(1);
      expect(await filesUnder(inbox)).toEqual(['after.dcm']);
    });
  });
});
