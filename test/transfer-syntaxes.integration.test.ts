/**
 * Compressed and other transfer syntaxes made by DCMTK's own codecs, sent by storescu, stored bit for bit.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inflateRawSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestEngine, type TestEngine } from './helpers/engine.js';
import { dcmtk } from './helpers/dcmtk.js';
import { makeInstance, newUid } from './fixtures/dicom-fixtures.js';
import { parseHeader } from '../src/dicom/header.js';
import { TransferSyntax } from '../src/dicom/transfer-syntax.js';

let engine: TestEngine;
let dir: string;
beforeAll(async () => {
  engine = await startTestEngine();
  dir = await mkdtemp(join(tmpdir(), 'sluice-ts-'));
});
afterAll(async () => {
  await engine?.cleanup();
  await rm(dir, { recursive: true, force: true });
});

/** name, transfer syntax, converter command, storescu option proposing that syntax */
const cases: Array<[string, string, string[], string]> = [
  ['JPEG lossless (SV1)', TransferSyntax.JpegLosslessSV1, ['dcmcjpeg'], '-xs'],
  ['JPEG-LS lossless', TransferSyntax.JpegLsLossless, ['dcmcjpls'], '-xt'],
  ['RLE lossless', TransferSyntax.RleLossless, ['dcmcrle'], '-xr'],
  [
    'deflated explicit VR little endian',
    TransferSyntax.DeflatedExplicitVRLittleEndian,
    ['dcmconv', '+td'],
    '-xd',
  ],
  ['explicit VR big endian', TransferSyntax.ExplicitVRBigEndian, ['dcmconv', '+tb'], '-xb'],
];

describe('transfer syntaxes through the SCP', () => {
  it.each(cases)('%s is stored as received', async (_name, uid, [tool, ...args], propose) => {
    const source = join(dir, `${tool}-src.dcm`);
    const converted = join(dir, `${tool}-${args.join('')}.dcm`);
    const sop = newUid();
    await writeFile(source, makeInstance({ sopInstanceUid: sop, rows: 32, columns: 32 }));
    const conv = await dcmtk(tool, [...args, source, converted]);
    expect(conv.code, conv.stderr).toBe(0);
    const original = await readFile(converted);
    expect(parseHeader(original).transferSyntaxUid).toBe(uid);

    const sent = await dcmtk('storescu', [
      propose,
      '-aec',
      'SLUICE',
      '127.0.0.1',
      String(engine.dicomPort),
      converted,
    ]);
    expect(sent.code, sent.stderr).toBe(0);
    const [image] = await engine.imagesBySop(sop);
    expect(image).toBeDefined();
    const stored = Buffer.from(await (await engine.api(`/api/images/${image.id}`)).arrayBuffer());
    expect(parseHeader(stored).transferSyntaxUid).toBe(uid);
    // storescu re-deflates on the way out, so deflated data is compared inflated.
    const datasetOf = (b: Buffer) => {
      const dataset = b.subarray(144 + b.readUInt32LE(140));
      return uid === TransferSyntax.DeflatedExplicitVRLittleEndian ? inflateRawSync(dataset) : dataset;
    };
    expect(datasetOf(stored).equals(datasetOf(original))).toBe(true);
  });
});
