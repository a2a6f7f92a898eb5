/**
 * What is stored is what was meant and is readable: datasets nested too deep, without identifiers, that
 * contradict their C-STORE request or carry corrupt elements are refused (0xC000 / 400, quarantined)
 * while other senders are served; nothing replaces a stored instance it does not match.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestEngine, type TestEngine } from './helpers/engine.js';
import { dcmtk } from './helpers/dcmtk.js';
import { makeInstance, newUid } from './fixtures/dicom-fixtures.js';
import { storeFiles } from '../src/dimse/scu/store-scu.js';
import { readStoredFile } from '../src/dimse/scu/stored-files.js';
import { buildFileMeta, datasetOffset } from '../src/dicom/part10.js';
import { parseHeader } from '../src/dicom/header.js';
import { PIXEL_DATA } from '../src/dicom/vr.js';
import { DatasetWalker } from '../src/dicom/walker.js';

const CT_SMALL = '/usr/lib/python3/dist-packages/pydicom/data/test_files/CT_small.dcm';
const EXPLICIT_LE = '1.2.840.10008.1.2.1';

let engine: TestEngine;
let dir: string;
beforeAll(async () => {
  engine = await startTestEngine();
  dir = await mkdtemp(join(tmpdir(), 'sluice-integrity-'));
});
afterAll(async () => {
  await engine?.cleanup();
  await rm(dir, { recursive: true, force: true });
});

const target = () => ({ host: '127.0.0.1', port: engine.dicomPort, calledAe: 'SLUICE', callingAe: 'TESTER' });

/** Sends a file with our SCU, which streams it without parsing it (DCMTK's storescu would read it first). */
async function cstore(bytes: Buffer): Promise<{ status: number; comment?: string }> {
  const path = join(dir, `${newUid()}.dcm`);
  await writeFile(path, bytes);
  const [result] = await storeFiles(target(), [await readStoredFile(path)]);
  return result;
}

/** A Part-10 file: our file meta for these UIDs, then the dataset bytes as given. */
const part10 = (dataset: Buffer, sopClassUid: string, sopInstanceUid: string) =>
  Buffer.concat([buildFileMeta({ sopClassUid, sopInstanceUid, transferSyntaxUid: EXPLICIT_LE }), dataset]);

/** CT_small's dataset with `insert` placed just before its pixel data. */
async function ctSmallWith(
  insert: Buffer,
): Promise<{ bytes: Buffer; sopInstanceUid: string; sopClassUid: string }> {
  const file = await readFile(CT_SMALL);
  const header = parseHeader(file);
  const start = datasetOffset(file);
  const pixels = header.pixelDataOffset;
  const dataset = Buffer.concat([file.subarray(start, pixels), insert, file.subarray(pixels)]);
  return { bytes: part10(dataset, header.sopClassUid, header.sopInstanceUid), ...header };
}

/** (0040,0275) SQ nested `depth` levels deep, every sequence and item of defined length. */
function nestedSequences(depth: number): Buffer {
  const levelBytes = 12 + 8; // explicit SQ header + item header
  const out = Buffer.alloc(levelBytes * depth);
  for (let k = 0; k < depth; k++) {
    const at = k * levelBytes;
    const remaining = out.length - at;
    out.writeUInt16LE(0x0040, at);
    out.writeUInt16LE(0x0275, at + 2);
    out.write('SQ', at + 4, 'latin1');
    out.writeUInt32LE(remaining - 12, at + 8);
    out.writeUInt16LE(0xfffe, at + 12);
    out.writeUInt16LE(0xe000, at + 14);
    out.writeUInt32LE(remaining - 20, at + 16);
  }
  return out;
}

const explicitElement = (group: number, element: number, vr: string, value: Buffer) => {
  const head = Buffer.alloc(8);
  head.writeUInt16LE(group, 0);
  head.writeUInt16LE(element, 2);
  head.write(vr, 4, 'latin1');
  head.writeUInt16LE(value.length, 6);
  return Buffer.concat([head, value]);
};

describe('nesting', () => {
  it.each([10_000, 100_000, 400_000])(
    'refuses %i defined-length levels with 0xC000, in bounded memory, while storescu is served',
    async (depth) => {
      const { bytes } = await ctSmallWith(nestedSequences(depth));
      const other = join(dir, 'other.dcm');
      await writeFile(other, makeInstance({ sopInstanceUid: newUid() }));
      const before = process.memoryUsage().rss;
      const [refused, served] = await Promise.all([
        cstore(bytes),
        dcmtk('storescu', ['-aec', 'SLUICE', '-to', '20', '127.0.0.1', String(engine.dicomPort), other]),
      ]);
      expect(refused.status).toBe(0xc000);
      expect(refused.comment).toMatch(/nested deeper than 64 levels/);
      expect(served.code, served.stderr).toBe(0);
      expect(process.memoryUsage().rss - before).toBeLessThan(100 * 1024 * 1024);
    },
  );
});

describe('identifiers', () => {
  it('refuses a C-STORE with an empty dataset', async () => {
    const result = await cstore(part10(Buffer.alloc(0), '1.2.840.10008.5.1.4.1.1.2', newUid()));
    expect(result.status).toBe(0xc000);
    expect(result.comment).toMatch(/the dataset has no SOPClassUID/);
  });

  it("refuses an upload of only a stored file's meta, leaving the stored file as it was", async () => {
    const original = await readFile(CT_SMALL);
    const stored = await engine.api('/api/images', { method: 'POST', body: new Uint8Array(original) });
    expect([200, 201]).toContain(stored.status);
    const { id } = (await stored.json()) as { id: number };
    const metaOnly = original.subarray(0, datasetOffset(original));
    const r = await engine.api('/api/images', { method: 'POST', body: new Uint8Array(metaOnly) });
    expect(r.status).toBe(400);
    expect(await r.text()).toMatch(/the dataset has no SOPClassUID/);
    expect(Buffer.from(await (await engine.api(`/api/images/${id}`)).arrayBuffer()).equals(original)).toBe(
      true,
    );
    const quarantined = (await (await engine.api('/api/quarantine')).json()) as Array<{ code: string }>;
    expect(quarantined.some((q) => q.code === 'DICOM.INVALID')).toBe(true);
  });

  it('refuses a C-STORE whose request names another SOP instance than its dataset', async () => {
    const real = newUid();
    const dataset = makeInstance({ sopInstanceUid: real });
    const start = datasetOffset(dataset);
    const claimed = `${real}.2`;
    const header = parseHeader(dataset);
    const result = await cstore(part10(dataset.subarray(start), header.sopClassUid, claimed));
    expect(result.status).toBe(0xc000);
    expect(result.comment).toMatch(/^SOP instance differs from the C-STORE request/);
    expect(await engine.imagesBySop(real)).toHaveLength(0);
    expect(await engine.imagesBySop(claimed)).toHaveLength(0);
  });
});

describe('corrupt elements', () => {
  it('refuses an explicit VR element with an unknown VR', async () => {
    const { bytes } = await ctSmallWith(explicitElement(0x0040, 0x0010, 'XN', Buffer.from('AB')));
    const r = await engine.api('/api/images', { method: 'POST', body: new Uint8Array(bytes) });
    expect(r.status).toBe(400);
    expect(await r.text()).toMatch(/unknown VR "XN"/);
  });

  it('refuses an element that runs past the end of its item', async () => {
    // A sequence with one item of 8 bytes holding an element that declares 16.
    const inner = explicitElement(0x0008, 0x0100, 'SH', Buffer.alloc(16, 0x41));
    const item = Buffer.alloc(8);
    item.writeUInt16LE(0xfffe, 0);
    item.writeUInt16LE(0xe000, 2);
    item.writeUInt32LE(8, 4);
    const seqValue = Buffer.concat([item, inner]);
    const seq = Buffer.alloc(12);
    seq.writeUInt16LE(0x0040, 0);
    seq.writeUInt16LE(0x0260, 2);
    seq.write('SQ', 4, 'latin1');
    seq.writeUInt32LE(seqValue.length, 8);
    const { bytes } = await ctSmallWith(Buffer.concat([seq, seqValue]));
    const r = await engine.api('/api/images', { method: 'POST', body: new Uint8Array(bytes) });
    expect(r.status).toBe(400);
    expect(await r.text()).toMatch(/past the end of/);
  });

  it('indexes only text: a name that arrived as bytes is indexed empty', async () => {
    const sop = newUid();
    const file = makeInstance({ sopInstanceUid: sop, patientName: 'REPLACED^NAME' });
    // PatientName (0010,0010) re-labelled OB: dcmjs reads its value as bytes.
    const walker = new DatasetWalker(file, true, true);
    const start = datasetOffset(file);
    for (let at = start; at < file.length;) {
      const el = walker.walkElement(at);
      if (el.tag === 0x00100010) {
        const value = file.subarray(el.start + el.headerLength, el.end);
        const un = Buffer.alloc(12);
        un.writeUInt16LE(0x0010, 0);
        un.writeUInt16LE(0x0010, 2);
        un.write('OB', 4, 'latin1');
        un.writeUInt32LE(value.length, 8);
        const changed = Buffer.concat([file.subarray(0, el.start), un, value, file.subarray(el.end)]);
        const r = await engine.api('/api/images', { method: 'POST', body: new Uint8Array(changed) });
        expect(r.status).toBe(201);
        const [image] = await engine.imagesBySop(sop);
        const series = (await (await engine.api(`/api/metadata/series/${image.seriesId}`)).json()) as {
          studyId: number;
        };
        const study = (await (await engine.api(`/api/metadata/studies/${series.studyId}`)).json()) as {
          patientId: number;
        };
        const patient = (await (await engine.api(`/api/metadata/patients/${study.patientId}`)).json()) as {
          patientName: { value: string };
        };
        expect(patient.patientName.value).toBe('');
        return;
      }
      if (el.tag === PIXEL_DATA) break;
      at = el.end;
    }
    throw new Error('no PatientName in the fixture');
  });
});
