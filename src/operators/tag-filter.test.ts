import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { defineSink } from '../pipeline/component.js';
import { bytesOf, type Envelope } from '../pipeline/envelope.js';
import type { SourceRef } from '../pipeline/origin.js';
import { parseHeader, type DicomDataset } from '../dicom/header.js';
import { SluiceError } from '../errors.js';
import { PipelineRunner } from '../pipeline/runner.js';
import type { PipelineSpec } from '../pipeline/pipeline-file.js';
import { Quarantine } from '../pipeline/quarantine.js';
import { UploadRegistry, type EngineServices } from '../pipeline/services.js';
import { perItem } from '../pipeline/settle.js';
import { TagFilterService } from '../tag-filters/service.js';
import { parseTagTree } from '../dicom/tag-path.js';
import { openSqliteState } from '../storage/sqlite-state.js';
import type { StateStore } from '../storage/state-store.js';
import { drivenSource } from '../../test/helpers/driven-source.js';
import { tagFilter } from './tag-filter.js';
import { makeInstance } from '../../test/fixtures/dicom-fixtures.js';

const SCP: SourceRef = { sourceType: 'scp', sourceId: 1 };
const USER: SourceRef = { sourceType: 'user', sourceId: 7 };

const instance = (patientId = 'OK') =>
  makeInstance({
    patientId,
    extra: {
      InstitutionName: 'Somewhere',
      OtherPatientIDs: ['A1', 'B2', 'C3'],
      ReferencedImageSequence: [
        { ReferencedSOPClassUID: '1.2.3', ReferencedSOPInstanceUID: '1.2.3.1' },
        {
          ReferencedSOPClassUID: '1.2.3',
          ReferencedSOPInstanceUID: '1.2.3.2',
          SourceImageSequence: [{ ReferencedSOPClassUID: '1.2.4', ReferencedFrameNumber: ['1', '2'] }],
        },
      ],
    },
  });

/** A driven source, and a sink that reads each envelope's file as the storage sink would. */
function harness() {
  const { def: source, feed } = drivenSource();
  const stored: Array<{ envelope: Envelope; bytes: Buffer }> = [];
  const sink = defineSink({
    type: 'test_sink',
    summary: 'test sink',
    config: z.strictObject({}),
    example: {},
    create: (_c, c) =>
      perItem(
        c,
        async (e) => {
          if (e.header.dataset['00100020']?.Value?.[0] === 'FAIL')
            throw new SluiceError('TEST.FAIL', 'told to fail', 500);
          stored.push({ envelope: e, bytes: await bytesOf(e) });
          return e;
        },
        { concurrency: 4 },
      ),
  });
  return { source, sink, stored, feed };
}

let dataDir: string;
let state: StateStore;
let filters: TagFilterService;
let runner: PipelineRunner | undefined;
beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'sluice-tag-filter-'));
  state = openSqliteState(':memory:');
  filters = new TagFilterService(state);
});
afterEach(async () => {
  await runner?.stop();
  runner = undefined;
  await state.close();
  await rm(dataDir, { recursive: true, force: true });
});

async function start(config: unknown = {}) {
  const h = harness();
  const services = {
    config: { dataDir },
    quarantine: new Quarantine(join(dataDir, 'quarantine')),
    uploads: new UploadRegistry(),
    tagFilters: filters,
  } as unknown as EngineServices;
  const spec: PipelineSpec = {
    file: 'test.yaml',
    name: 'test',
    maxInFlight: 8,
    sources: [{ kind: 'source', path: 'sources[0]', def: h.source, config: {} }],
    operators: [
      { kind: 'operator', path: 'operators[0]', def: tagFilter, config: tagFilter.config.parse(config) },
    ],
    sinks: [{ kind: 'sink', path: 'sinks[0]', def: h.sink, config: {} }],
  };
  runner = new PipelineRunner(spec, services);
  await runner.start();
  return h;
}

const datasetOf = (bytes: Buffer): DicomDataset => parseHeader(bytes).dataset;
/** Files in the landing temp folder, where filtered copies are written; removed just after settling. */
const landingLeft = async () => (await readdir(join(dataDir, 'landing', 'test', 'tmp'))).length;

async function managedFilter(type: 'WHITELIST' | 'BLACKLIST', paths: string[], source: SourceRef) {
  const filter = await filters.createFilter({ name: `${type} filter`, tagFilterType: type });
  for (const p of paths) await filters.addTagPath(filter.id, parseTagTree(p));
  const association = await filters.createAssociation({ ...source, sourceName: 'x', tagFilterId: filter.id });
  return { filter, association };
}

describe('tag_filter', () => {
  it('passes envelopes of a source without filters untouched: same file, same header', async () => {
    const h = await start();
    await managedFilter('BLACKLIST', ['InstitutionName'], SCP);
    const original = instance();
    expect((await h.feed(original, USER)).kind).toBe('ack');
    expect(h.stored[0].bytes.equals(original)).toBe(true);
    expect(h.stored[0].envelope.path).toMatch(/\.user\.7\.dcm$/);
    expect(h.stored[0].envelope.content).toBeUndefined();
  });

  it("applies the source's managed filters: nested sequences, multi-valued and missing attributes", async () => {
    const h = await start();
    await managedFilter(
      'BLACKLIST',
      ['InstitutionName', 'OtherPatientIDs', 'PatientAddress', '(0008,1140)[2].(0008,2112)[*].(0008,1160)'],
      SCP,
    );
    expect((await h.feed(instance(), SCP)).kind).toBe('ack');
    const { envelope, bytes } = h.stored[0];
    const d = datasetOf(bytes);
    expect(d['00080080']).toBeUndefined();
    expect(d['00101000']).toBeUndefined();
    const items = d['00081140'].Value as DicomDataset[];
    const nested = items[1]['00082112'].Value as DicomDataset[];
    expect(nested[0]['00081160']).toBeUndefined();
    expect(nested[0]['00081150'].Value).toEqual(['1.2.4']);
    // The envelope's header reflects the filter, for the index.
    expect(envelope.header.dataset['00080080']).toBeUndefined();
    expect(envelope.size).toBe(bytes.length);
    // The filtered copy is removed once the envelope is settled.
    await vi.waitFor(async () => expect(await landingLeft()).toBe(0));
  });

  it('follows changes live: a new association applies to the next envelope, a removed one no more', async () => {
    const h = await start();
    await h.feed(instance(), SCP);
    expect(datasetOf(h.stored[0].bytes)['00080080']).toBeDefined();
    const { association } = await managedFilter('WHITELIST', ['StudyDescription'], SCP);
    await h.feed(instance(), SCP);
    const d = datasetOf(h.stored[1].bytes);
    expect(d['00080080']).toBeUndefined();
    expect(d['00081030'].Value).toEqual(['Synthetic study']);
    expect(d['00100020'].Value).toEqual(['OK']); // always kept
    expect(d['7FE00010']).toBeUndefined(); // pixel data is not in the parsed header…
    expect(parseHeader(h.stored[1].bytes).pixelDataOffset).toBeGreaterThan(0); // …but it is there
    await filters.deleteAssociation(association.id);
    await h.feed(instance(), SCP);
    expect(datasetOf(h.stored[2].bytes)['00080080']).toBeDefined();
  });

  it('applies static filters to every envelope, and managed ones only when asked', async () => {
    await managedFilter('BLACKLIST', ['StudyDescription'], SCP);
    const h = await start({
      managed: false,
      static: [{ name: 'no institution', type: 'BLACKLIST', tag_paths: ['(0008,0080)'] }],
    });
    await h.feed(instance(), USER);
    await h.feed(instance(), SCP);
    for (const { bytes } of h.stored) {
      expect(datasetOf(bytes)['00080080']).toBeUndefined();
      expect(datasetOf(bytes)['00081030']).toBeDefined();
    }
  });

  it('removes the filtered copy of an envelope quarantined downstream, and quarantines the landed original', async () => {
    const h = await start();
    await managedFilter('BLACKLIST', ['InstitutionName'], SCP);
    const outcome = await h.feed(instance('FAIL'), SCP);
    expect(outcome.kind).toBe('quarantine');
    await vi.waitFor(async () => expect(await landingLeft()).toBe(0));
  });

  it('rejects invalid static tag paths at load', () => {
    expect(
      tagFilter.config.safeParse({ static: [{ name: 'x', type: 'BLACKLIST', tag_paths: ['NoSuchKeyword'] }] })
        .success,
    ).toBe(false);
    expect(
      tagFilter.config.safeParse({ static: [{ name: 'x', type: 'GREYLIST', tag_paths: ['PatientName'] }] })
        .success,
    ).toBe(false);
  });
});
