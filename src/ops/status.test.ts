import { describe, expect, it } from 'vitest';
import { tmpdir } from 'node:os';
import { readiness } from './status.js';
import type { ApiDeps } from '../api/deps.js';
import { Engine } from '../pipeline/engine.js';
import type { ComponentStatus, PipelineStatus } from '../pipeline/runner.js';

const counters = { received: 0, emitted: 0, dropped: 0, quarantined: 0, errors: 0 };
const pipeline = (over: Partial<PipelineStatus>, components: Array<Partial<ComponentStatus>> = []) =>
  ({
    name: 'default',
    file: 'default.yaml',
    running: true,
    healthy: true,
    inFlight: 0,
    maxInFlight: 64,
    acknowledged: 0,
    dropped: 0,
    quarantined: 0,
    components: components.map((c) => ({
      path: 'sources[0]',
      kind: 'source',
      type: 'dicom_scp',
      counters,
      ...c,
    })),
    ...over,
  }) as PipelineStatus;

/** An engine whose pipelines report `pipelines`: problems() is the engine's own wording. */
const deps = (pipelines: PipelineStatus[], minFreeBytes = 0, blobProblem?: string) => {
  const engine = Object.create(Engine.prototype) as Engine;
  Object.assign(engine, {
    pipelines: () => pipelines,
    services: {
      config: { dataDir: tmpdir(), minFreeBytes },
      blobs: { problem: () => blobProblem },
      index: { problem: () => undefined },
      state: { problem: () => undefined },
    },
  });
  return { engine } as unknown as ApiDeps;
};

describe('readiness', () => {
  it('is ready when every pipeline runs with all its sources up and the disk has room', async () => {
    const ok = pipeline({}, [{ state: 'running' }, { path: 'sinks[0]', kind: 'sink', type: 'storage' }]);
    expect(await readiness(deps([ok]))).toEqual({ ready: true, problems: [] });
  });

  it("names a stopped pipeline, a starting source and a failed one with its error, in the engine's words", async () => {
    const r = await readiness(
      deps([
        pipeline({ name: 'a', running: false }),
        pipeline({ name: 'b' }, [
          { state: 'failed', error: 'dicom_scp 127.0.0.1:104: listen EACCES' },
          { path: 'sources[1]', type: 'watch_folder', state: 'starting' },
        ]),
      ]),
    );
    expect(r).toEqual({
      ready: false,
      problems: [
        'pipeline a is not running',
        'pipeline b sources[0] (dicom_scp) is failed: dicom_scp 127.0.0.1:104: listen EACCES',
        'pipeline b sources[1] (watch_folder) is starting',
      ],
    });
  });

  it('is not ready while the blob store does not answer, naming it first', async () => {
    const down = 'blob store: S3 bucket "b" at http://127.0.0.1:9 does not answer: connect ECONNREFUSED';
    expect(await readiness(deps([pipeline({})], 0, down))).toEqual({ ready: false, problems: [down] });
  });

  it('is not ready when the disk is nearly full', async () => {
    const r = await readiness(deps([pipeline({})], Number.MAX_SAFE_INTEGER));
    expect(r.ready).toBe(false);
    expect(r.problems).toEqual([expect.stringMatching(/^disk: \d+ MB free in .*SLUICE_MIN_FREE_MB\)$/)]);
  });
});
