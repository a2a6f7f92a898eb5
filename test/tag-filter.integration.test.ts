/**
 * Tag filters end to end: a filter made through /api/filtering and associated with the SCP source, a study
 * sent by DCMTK's storescu, the stored files read back by dcmdump without the filtered attributes.
 */
import { readStored, storedObject, withLocalFile } from '../src/storage/stored-object.js';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestEngine, type TestEngine } from './helpers/engine.js';
import { dcmtk } from './helpers/dcmtk.js';
import { makeInstance, newUid, writeStudy } from './fixtures/dicom-fixtures.js';
import { parseHeader } from '../src/dicom/header.js';
import { TransferSyntax } from '../src/dicom/transfer-syntax.js';
import { applyTagFilters } from '../src/dicom/filter.js';
import { parseTagTree } from '../src/dicom/tag-path.js';

let engine: TestEngine;
let dir: string;

const extra = {
  InstitutionName: 'Somewhere Hospital',
  OtherPatientIDs: ['OLD1', 'OLD2'],
  ReferencedImageSequence: [
    { ReferencedSOPClassUID: '1.2.840.10008.5.1.4.1.1.2', ReferencedSOPInstanceUID: '1.2.3.4.1' },
    { ReferencedSOPClassUID: '1.2.840.10008.5.1.4.1.1.2', ReferencedSOPInstanceUID: '1.2.3.4.2' },
  ],
};

beforeAll(async () => {
  engine = await startTestEngine();
  dir = await mkdtemp(join(tmpdir(), 'sluice-filter-'));
  const post = async (path: string, body: unknown) => {
    const r = await engine.api(`/api/filtering${path}`, { method: 'POST', body: JSON.stringify(body) });
    expect(r.status).toBe(201);
    return (await r.json()) as { id: number };
  };
  const filter = await post('/filters', { id: -1, name: 'strip', tagFilterType: 'BLACKLIST' });
  for (const tagPath of [
    { name: 'InstitutionName' },
    { name: 'OtherPatientIDs' },
    { name: 'StudyDescription' },
    { name: 'ReferencedSOPInstanceUID', previous: { name: 'ReferencedImageSequence', item: '*' } },
  ])
    await post(`/filters/${filter.id}/tagpaths`, { id: -1, tagFilterId: filter.id, tagPath });
  await post('/associations', {
    id: -1,
    sourceType: 'scp',
    sourceName: 'DICOM SCP',
    sourceId: 1,
    tagFilterId: filter.id,
    tagFilterName: 'strip',
  });
});
afterAll(async () => {
  await engine?.cleanup();
  await rm(dir, { recursive: true, force: true });
});

/** The stored file (on disk, or a temporary copy of the S3 object in the scale project) given to `use`. */
const withStored = <T>(sopInstanceUid: string, use: (path: string) => Promise<T>) =>
  withLocalFile(storedObject(engine.engine.services.blobs, sopInstanceUid), use);

describe('tag_filter with DCMTK', () => {
  it('stores a study sent by storescu without the filtered attributes', async () => {
    const study = await writeStudy(join(dir, 'study'), {
      series: 2,
      instancesPerSeries: 2,
      patientId: 'FILTER01',
      extra,
    });
    const r = await dcmtk('storescu', [
      '-aec',
      'SLUICE',
      '127.0.0.1',
      String(engine.dicomPort),
      ...study.files,
    ]);
    expect(r.code, r.stderr).toBe(0);
    for (const sop of study.sopInstanceUids) {
      const dump = await withStored(sop, (path) => dcmtk('dcmdump', ['-dc', path]));
      expect(dump.code, dump.stderr).toBe(0);
      expect(dump.stderr).toBe('');
      expect(dump.stdout).not.toMatch(/InstitutionName|OtherPatientIDs\b|StudyDescription/);
      expect(dump.stdout).not.toContain('ReferencedSOPInstanceUID');
      expect(dump.stdout).toContain('ReferencedImageSequence');
      expect(dump.stdout.match(/ReferencedSOPClassUID/g)).toHaveLength(2);
      expect(dump.stdout).toContain('[FILTER01]');
      expect(dump.stdout).toContain(sop);
      expect(dump.stdout).toMatch(/\(7fe0,0010\) OW/);
    }
    // The index was fed the filtered header.
    const studies = (await (
      await engine.api('/api/metadata/studies/query', {
        method: 'POST',
        body: JSON.stringify({
          startIndex: 0,
          count: 10,
          queryProperties: [
            { propertyName: 'studyInstanceUID', operator: '=', propertyValue: study.studyInstanceUid },
          ],
        }),
      })
    ).json()) as Array<{ studyDescription: { value: string } }>;
    expect(studies.map((s) => s.studyDescription.value)).toEqual(['']);
    // The filtered copies are gone from landing.
    expect(await readdir(join(engine.dataDir, 'landing', 'default', 'tmp'))).toEqual([]);
  });

  it('keeps JPEG-compressed pixel data bit for bit', async () => {
    const source = join(dir, 'plain.dcm');
    const compressed = join(dir, 'jpeg.dcm');
    await writeFile(source, makeInstance({ sopInstanceUid: newUid(), rows: 32, columns: 32, extra }));
    const conv = await dcmtk('dcmcjpeg', [source, compressed]);
    expect(conv.code, conv.stderr).toBe(0);
    const original = await readFile(compressed);
    const header = parseHeader(original);
    expect(header.transferSyntaxUid).toBe(TransferSyntax.JpegLosslessSV1);
    const r = await dcmtk('storescu', [
      '-xs',
      '-aec',
      'SLUICE',
      '127.0.0.1',
      String(engine.dicomPort),
      compressed,
    ]);
    expect(r.code, r.stderr).toBe(0);
    const stored = await readStored(engine.engine.services.blobs, header.sopInstanceUid);
    const storedHeader = parseHeader(stored);
    expect(storedHeader.transferSyntaxUid).toBe(TransferSyntax.JpegLosslessSV1);
    expect(storedHeader.dataset['00080080']).toBeUndefined();
    expect(
      stored.subarray(storedHeader.pixelDataOffset).equals(original.subarray(header.pixelDataOffset)),
    ).toBe(true);
    const dump = await withStored(header.sopInstanceUid, (path) => dcmtk('dcmdump', ['-dc', path]));
    expect(dump.code, dump.stderr).toBe(0);
    expect(dump.stdout).not.toContain('InstitutionName');
  });

  it.each([
    ['deflated', ['dcmconv', '+td'], TransferSyntax.DeflatedExplicitVRLittleEndian],
    ['big endian', ['dcmconv', '+tb'], TransferSyntax.ExplicitVRBigEndian],
    ['implicit VR', ['dcmconv', '+ti'], TransferSyntax.ImplicitVRLittleEndian],
    ['RLE', ['dcmcrle'], TransferSyntax.RleLossless],
  ])('filters %s files into files dcmdump reads', async (name, [tool, ...args], uid) => {
    const source = join(dir, `${name}-src.dcm`);
    const converted = join(dir, `${name}.dcm`);
    await writeFile(source, makeInstance({ rows: 16, columns: 16, extra }));
    expect((await dcmtk(tool, [...args, source, converted])).code).toBe(0);
    const result = applyTagFilters(await readFile(converted), [
      {
        name: 'both',
        type: 'BLACKLIST',
        trees: ['InstitutionName', 'ReferencedImageSequence[1].ReferencedSOPInstanceUID'].map(parseTagTree),
      },
      {
        name: 'keep',
        type: 'WHITELIST',
        trees: ['ReferencedImageSequence', 'OtherPatientIDs'].map(parseTagTree),
      },
    ])!;
    expect(result.header.transferSyntaxUid).toBe(uid);
    const filtered = join(dir, `${name}-filtered.dcm`);
    await writeFile(filtered, result.bytes);
    const dump = await dcmtk('dcmdump', ['-dc', filtered]);
    expect(dump.code, dump.stderr).toBe(0);
    expect(dump.stderr).toBe('');
    expect(dump.stdout).not.toMatch(/InstitutionName|StudyDescription|Manufacturer/);
    expect(dump.stdout.match(/ReferencedSOPInstanceUID/g)).toHaveLength(1);
    expect(dump.stdout).toContain('OtherPatientIDs');
    expect(dump.stdout).toContain('PixelData');
  });
});
