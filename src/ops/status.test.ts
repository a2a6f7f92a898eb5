import { describe, expect, it } from 'vitest';
import { tmpdir } from 'node:os';
import { readiness } from './status.js';
import type { ApiDeps } from '../api/deps.js';
import type { PipelineStatus } from '../pipeline/runner.js';

const counters = { received: 0, emitted: 0, dropped: 0, quarantined: 0, errors: 0 };
const pipeline = (over: Partial<PipelineStatus>, components: object[] = []): PipelineStatus => ({
  name: 'default',
  file: 'default.yaml',
  running: true,
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
});
const deps = (pipelines: PipelineStatus[]) =>
  ({
    engine: { pipelines: () => pipelines, services: { config: { dataDir: tmpdir(), minFreeBytes: 0 } } },
  }) as unknown as ApiDeps;

describe('readiness', () => {
  it('is ready when every pipeline runs and no component reports a failure', async () => {
    expect(await readiness(deps([pipeline({}, [{ state: 'running' }, {}])]))).toEqual({
      ready: true,
      problems: [],
    });
  });

  it('names a stopped pipeline and a failed source with its error', async () => {
    const r = await readiness(
      deps([
        pipeline({ name: 'a', running: false }),
        pipeline({ name: 'b' }, [{ state: 'failed', error: 'dicom_scp 127.0.0.1:104: listen EACCES' }]),
      ]),
    );
    expect(r).toEqual({
      ready: false,
      problems: [
        'pipeline a: not running',
        'pipeline b: sources[0] (dicom_scp) failed: dicom_scp 127.0.0.1:104: listen EACCES',
      ],
    });
  });
});
