import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { firstValueFrom, of, toArray } from 'rxjs';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { classifySeries } from './classify-series.js';
import { registry } from '../components.js';
import { openSqliteIndex } from '../storage/sqlite-index.js';
import { openSqliteState } from '../storage/sqlite-state.js';
import type { StageContext } from '../pipeline/component.js';
import { Counters } from '../pipeline/counters.js';
import { parseHeader } from '../dicom/header.js';
import type { Envelope } from '../pipeline/envelope.js';
import { parsePipeline, PipelineFileError } from '../pipeline/pipeline-file.js';
import type { BlobStore } from '../storage/blob-store.js';
import type { MetadataIndex } from '../storage/metadata-index.js';
import type { StateStore } from '../storage/state-store.js';
import { SeriesTypeService } from '../series-types/service.js';
import type { EngineServices } from '../pipeline/services.js';
import { makeInstance } from '../../test/fixtures/dicom-fixtures.js';

const pipeline = (attributes: string) => `name: p
sources:
  - type: http_upload
sinks:
  - type: index
  - type: classify_series
    series_types:
      - name: x
        rules:
          - attributes:
${attributes}
`;
const problems = (text: string): string[] => {
  try {
    parsePipeline(text, 'p.yaml', registry);
  } catch (err) {
    if (err instanceof PipelineFileError) return err.problems;
    throw err;
  }
  return [];
};

describe('classify_series config', () => {
  it('accepts keywords or tags, operators and numbers as values', () => {
    const spec = parsePipeline(
      pipeline(`              - { keyword: Modality, values: CT }
              - { tag: 0x00180050, operator: range, values: '0.5,2' }
              - { keyword: SeriesDescription, operator: regex, values: t1, flags: i }
              - { keyword: SliceThickness, operator: '<', values: 2 }`),
      'p.yaml',
      registry,
    );
    expect((spec.sinks[1].config as any).series_types[0].rules[0].attributes).toEqual([
      { tag: 0x00080060, operator: 'equals', values: 'CT', flags: undefined },
      { tag: 0x00180050, operator: 'range', values: '0.5,2', flags: undefined },
      { tag: 0x0008103e, operator: 'regex', values: 't1', flags: 'i' },
      { tag: 0x00180050, operator: '<', values: '2', flags: undefined },
    ]);
  });

  it('fails at lint, with a location, on attributes that cannot be evaluated', () => {
    const lint = (attribute: string) => problems(pipeline(`              - ${attribute}`)).join('\n');
    expect(lint('{ keyword: SeriesDescription, operator: regex, values: "(" }')).toMatch(
      /p\.yaml:\d+:\d+ sinks\[1\]\.series_types\[0\]\.rules\[0\]\.attributes\[0\]\.values: invalid regular expression/,
    );
    expect(lint('{ keyword: NoSuchKeyword, values: x }')).toMatch(/unknown keyword NoSuchKeyword/);
    expect(lint('{ keyword: Modality, tag: 524384, values: CT }')).toMatch(/either keyword or tag/);
    expect(lint('{ keyword: SliceThickness, operator: range, values: "2" }')).toMatch(/lo,hi/);
    expect(lint('{ keyword: Modality, operator: like, values: CT }')).toMatch(/operator/);
    expect(lint('{ keyword: Modality, values: CT, extra: 1 }')).toMatch(/extra/);
  });
});

describe('classify_series', () => {
  let dir: string;
  let index: MetadataIndex;
  let state: StateStore;
  let service: SeriesTypeService;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sluice-classify-'));
    index = openSqliteIndex(':memory:');
    state = openSqliteState(join(dir, 'state.sqlite'));
    service = new SeriesTypeService(state, index, {} as BlobStore, {});
  });
  afterEach(async () => {
    await service.stop();
    await index.close();
    await state.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** What the component asked the runner to wait for before the pipeline starts. */
  let preparations: Promise<unknown>[];
  const context = (): StageContext => {
    preparations = [];
    return {
      pipeline: 'p',
      path: 'sinks[1]',
      services: { seriesTypes: service } as unknown as EngineServices,
      counters: new Counters(),
      settler: { settle: vi.fn() },
      preparing: (ready) => preparations.push(ready),
    };
  };
  const envelope = async (modality: string, thickness: string, indexed = true): Promise<Envelope> => {
    const header = parseHeader(makeInstance({ modality, extra: { SliceThickness: thickness } }));
    const origin = { sourceType: 'user' as const, sourceId: 1, sourceName: 'admin' };
    const facts = indexed
      ? { indexed: { image: (await index.upsert({ header, origin, size: 1 })).image, created: true } }
      : {};
    return { id: `e-${Math.random()}`, origin, path: '/nowhere', size: 1, header, facts };
  };
  const config = classifySeries.config.parse({
    series_types: [
      {
        name: 'CT thin',
        rules: [
          {
            attributes: [
              { keyword: 'Modality', values: 'CT' },
              { keyword: 'SliceThickness', operator: '<', values: 2 },
            ],
          },
        ],
      },
    ],
  });

  it('creates static types by name and labels series with static and managed types, keeping manual ones', async () => {
    const ctx = context();
    const operator = classifySeries.create(config, ctx);
    expect(preparations).toHaveLength(1);
    await Promise.all(preparations);
    const thin = (await state.listSeriesTypes(0, 10)).find((t) => t.name === 'CT thin')!;
    const anyCt = (await state.insertSeriesType('Any CT'))!;
    const rule = await state.insertSeriesTypeRule(anyCt.id);
    await state.insertSeriesTypeRuleAttribute({
      seriesTypeRuleId: rule.id,
      tag: 0x00080060,
      name: 'Modality',
      tagPath: null,
      namePath: null,
      values: 'CT',
      operator: 'equals',
      flags: '',
    });
    service.changed();
    await service.whenIdle();
    const manual = (await state.insertSeriesType('Reviewed'))!;
    expect(service.isStatic(thin.id)).toBe(true);
    expect(service.isStatic(anyCt.id)).toBe(false);

    const [a, b, c] = [await envelope('CT', '1.0'), await envelope('CT', '5'), await envelope('MR', '1.0')];
    const seriesOf = (e: Envelope) => e.facts.indexed!.image.seriesId;
    await index.assignSeriesType(seriesOf(b), manual.id);
    const out = await firstValueFrom(of(a, b, c).pipe(operator, toArray()));
    expect(out.map((e) => e.facts.seriesTypes?.ids)).toEqual([[thin.id, anyCt.id], [anyCt.id], []]);
    const types = async (e: Envelope) =>
      (await index.seriesTypeAssignments(seriesOf(e))).map((x) => x.seriesTypeId);
    expect(await types(a)).toEqual([thin.id, anyCt.id]);
    expect(await types(b)).toEqual([anyCt.id, manual.id]);
    expect(await types(c)).toEqual([]);
    expect(ctx.counters.snapshot()).toMatchObject({ received: 3, emitted: 3, quarantined: 0 });
    // The stream ended: its static types no longer take part.
    expect(service.isStatic(thin.id)).toBe(false);
  });

  it('quarantines an envelope that was not indexed first, and goes on', async () => {
    const ctx = context();
    const out = await firstValueFrom(
      of(await envelope('CT', '1', false), await envelope('CT', '1')).pipe(
        classifySeries.create(config, ctx),
        toArray(),
      ),
    );
    expect(out).toHaveLength(1);
    expect(ctx.settler.settle).toHaveBeenCalledWith(
      expect.anything(),
      expect.objectContaining({
        kind: 'quarantine',
        error: expect.objectContaining({ code: 'CLASSIFY.NO_SERIES' }),
      }),
      ctx,
    );
  });
});
