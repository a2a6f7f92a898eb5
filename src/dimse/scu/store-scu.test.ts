/**
 * The SCU against real peers: DCMTK storescp (bit-preserving, so stored datasets can be compared byte for
 * byte) and our own SCP.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { echoScp, storeFiles } from './store-scu.js';
import { associationGroups, contextKeys, type StoredFile } from './stored-files.js';
import { fileObject } from '../../storage/stored-object.js';
import { DimseError } from './association.js';
import { makeInstance, newUid, CT_IMAGE_STORAGE } from '../../../test/fixtures/dicom-fixtures.js';
import { freePort, startTestEngine } from '../../../test/helpers/engine.js';
import { dcmtk } from '../../../test/helpers/dcmtk.js';
import { parseHeader } from '../../dicom/header.js';
import { datasetOffset } from '../../dicom/part10.js';
import { TransferSyntax } from '../../dicom/transfer-syntax.js';

let dir: string;
const children: ChildProcess[] = [];
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-scu-'));
});
afterEach(() => children.splice(0).forEach((c) => c.kill('SIGKILL')));
afterAll(() => rm(dir, { recursive: true, force: true }));

async function storescp(args: string[]): Promise<{ port: number; out: string }> {
  const port = await freePort();
  const out = await mkdtemp(join(dir, 'scp-'));
  const child = spawn('storescp', [...args, '-od', out, '-aet', 'STORESCP', String(port)], {
    env: { ...process.env, TCP_NODELAY: '1' },
    stdio: 'ignore',
  });
  children.push(child);
  for (let i = 0; i < 100; i++) {
    try {
      await echoScp({ host: '127.0.0.1', port, calledAe: 'STORESCP', callingAe: 'SLUICE' });
      return { port, out };
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error('storescp did not start');
}

async function storedFile(name: string, bytes: Buffer): Promise<StoredFile> {
  const path = join(dir, name);
  await writeFile(path, bytes);
  const h = parseHeader(bytes);
  return {
    object: fileObject(path),
    sopClassUid: h.sopClassUid,
    sopInstanceUid: h.sopInstanceUid,
    transferSyntaxUid: h.transferSyntaxUid,
  };
}

/** A SOP class storescp does not know, so refuses in every transfer syntax. */
const PRIVATE_SOP_CLASS = '1.2.826.0.1.3680043.10.1337.99.1';
const datasetOf = (b: Buffer) => b.subarray(datasetOffset(b));

describe('store SCU', () => {
  it('sends files as stored, byte for byte, including compressed ones', async () => {
    const { port, out } = await storescp(['+B', '+xa']);
    const plain = await storedFile('plain.dcm', makeInstance({ rows: 128, columns: 128 }));
    const src = join(dir, 'src.dcm');
    await writeFile(src, makeInstance({ rows: 64, columns: 64 }));
    const jls = join(dir, 'jls.dcm');
    expect((await dcmtk('dcmcjpls', [src, jls])).code).toBe(0);
    const compressed = await storedFile('jls2.dcm', await readFile(jls));
    expect(compressed.transferSyntaxUid).toBe(TransferSyntax.JpegLsLossless);

    const results = await storeFiles({ host: '127.0.0.1', port, calledAe: 'STORESCP', callingAe: 'SLUICE' }, [
      plain,
      compressed,
    ]);
    expect(results.map((r) => r.status)).toEqual([0, 0]);
    const received = await readdir(out);
    expect(received).toHaveLength(2);
    for (const f of [plain, compressed]) {
      const name = received.find((n) => n.endsWith(f.sopInstanceUid))!;
      const got = await readFile(join(out, name));
      expect(datasetOf(got).equals(datasetOf(await readFile(f.object.path!)))).toBe(true);
    }
  });

  it('sends an object that streams in odd-sized reads (an object store) in even fragments, byte for byte', async () => {
    const { port, out } = await storescp(['+B']);
    const bytes = makeInstance({ rows: 64, columns: 64 });
    const h = parseHeader(bytes);
    // Reads of 1,001 and 7 bytes, as an HTTP body may arrive: DCMTK aborts on an odd fragment.
    const object = {
      name: 'odd-reads',
      async open() {
        const reads: Buffer[] = [];
        for (let at = 0, i = 0; at < bytes.length; i++) {
          const n = i % 2 ? 7 : 1001;
          reads.push(bytes.subarray(at, at + n));
          at += n;
        }
        return { stream: Readable.from(reads), size: bytes.length };
      },
    };
    const results = await storeFiles({ host: '127.0.0.1', port, calledAe: 'STORESCP', callingAe: 'SLUICE' }, [
      {
        object,
        sopClassUid: h.sopClassUid,
        sopInstanceUid: h.sopInstanceUid,
        transferSyntaxUid: h.transferSyntaxUid,
      },
    ]);
    expect(results.map((r) => r.status)).toEqual([0]);
    const [name] = await readdir(out);
    expect(datasetOf(await readFile(join(out, name))).equals(datasetOf(bytes))).toBe(true);
  });

  it('reports files whose SOP class the peer refuses, and sends the rest', async () => {
    const { port } = await storescp([]); // uncompressed only, known storage SOP classes only
    const files = [
      await storedFile('private.dcm', makeInstance({ sopClassUid: PRIVATE_SOP_CLASS })),
      await storedFile('ok.dcm', makeInstance()),
    ];
    const results = await storeFiles(
      { host: '127.0.0.1', port, calledAe: 'STORESCP', callingAe: 'SLUICE' },
      files,
    );
    expect(results[0]).toMatchObject({
      status: -1,
      comment: `STORESCP@127.0.0.1:${port} does not accept SOP class ${PRIVATE_SOP_CLASS} in transfer syntax ${TransferSyntax.ExplicitVRLittleEndian} or ${TransferSyntax.ImplicitVRLittleEndian}`,
    });
    expect(results[1].status).toBe(0);
  });

  it('decompresses for a peer that accepts only uncompressed syntaxes', async () => {
    const { port, out } = await storescp(['+B']); // uncompressed only, bit-preserving
    const original = makeInstance({ rows: 32, columns: 32 });
    const src = join(dir, 'src2.dcm');
    await writeFile(src, original);
    const rle = join(dir, 'rle.dcm');
    expect((await dcmtk('dcmcrle', [src, rle])).code).toBe(0);
    const [result] = await storeFiles(
      { host: '127.0.0.1', port, calledAe: 'STORESCP', callingAe: 'SLUICE' },
      [await storedFile('rle2.dcm', await readFile(rle))],
    );
    expect(result.status).toBe(0);
    const [name] = await readdir(out);
    const got = await readFile(join(out, name));
    expect(parseHeader(got).transferSyntaxUid).toBe(TransferSyntax.ExplicitVRLittleEndian);
    const pixels = original.subarray(original.length - 32 * 32 * 2);
    expect(got.subarray(got.length - pixels.length).equals(pixels)).toBe(true);
  });

  it('falls back to implicit VR little endian for a peer that refuses the stored explicit syntax', async () => {
    const { port, out } = await storescp(['+xi', '+B']); // implicit VR little endian only, bit-preserving
    const original = makeInstance({
      rows: 16,
      columns: 16,
      extra: {
        ReferencedImageSequence: [
          { ReferencedSOPClassUID: CT_IMAGE_STORAGE, ReferencedSOPInstanceUID: newUid() },
          { ReferencedSOPClassUID: CT_IMAGE_STORAGE, ReferencedSOPInstanceUID: newUid() },
        ],
      },
    });
    const file = await storedFile('explicit.dcm', original);
    expect(file.transferSyntaxUid).toBe(TransferSyntax.ExplicitVRLittleEndian);
    const [result] = await storeFiles(
      { host: '127.0.0.1', port, calledAe: 'STORESCP', callingAe: 'SLUICE' },
      [file],
    );
    expect(result.status).toBe(0);
    const [name] = await readdir(out);
    const received = parseHeader(await readFile(join(out, name)));
    expect(received.transferSyntaxUid).toBe(TransferSyntax.ImplicitVRLittleEndian);
    // Same attributes, sequence items included, and the same pixel bytes at the end of the file.
    expect(received.dataset).toEqual(parseHeader(original).dataset);
    const pixels = original.subarray(original.length - 16 * 16 * 2);
    const got = await readFile(join(out, name));
    expect(got.subarray(got.length - pixels.length).equals(pixels)).toBe(true);
  });

  it('fails with a precise error when the peer is unreachable or refuses everything', async () => {
    const port = await freePort();
    const file = await storedFile('x.dcm', makeInstance());
    await expect(
      storeFiles({ host: '127.0.0.1', port, calledAe: 'X', callingAe: 'SLUICE' }, [file]),
    ).rejects.toMatchObject({
      code: 'DIMSE.UNREACHABLE',
      httpStatus: 502,
      message: expect.stringContaining('ECONNREFUSED'),
    });
    const { port: scpPort } = await storescp([]);
    const refused = await storedFile('private2.dcm', makeInstance({ sopClassUid: PRIVATE_SOP_CLASS }));
    await expect(
      storeFiles({ host: '127.0.0.1', port: scpPort, calledAe: 'STORESCP', callingAe: 'SLUICE' }, [refused]),
    ).rejects.toBeInstanceOf(DimseError);
  });

  it('round-trips through our own SCP', async () => {
    const engine = await startTestEngine();
    try {
      const files = await Promise.all(
        [0, 1, 2].map((i) =>
          storedFile(
            `own${i}.dcm`,
            makeInstance({ sopInstanceUid: newUid(), sopClassUid: CT_IMAGE_STORAGE, instanceNumber: i }),
          ),
        ),
      );
      const target = { host: '127.0.0.1', port: engine.dicomPort, calledAe: 'SLUICE', callingAe: 'PEER' };
      await echoScp(target);
      const results = await storeFiles(target, files);
      expect(results.every((r) => r.status === 0)).toBe(true);
      for (const f of files) expect(await engine.imagesBySop(f.sopInstanceUid)).toHaveLength(1);
      const badPath = join(dir, 'bad-uid.dcm');
      await writeFile(badPath, makeInstance({ sopInstanceUid: '1.2.abc' }));
      const bad = {
        object: fileObject(badPath),
        sopClassUid: CT_IMAGE_STORAGE,
        sopInstanceUid: '1.2.abc',
        transferSyntaxUid: TransferSyntax.ExplicitVRLittleEndian,
      };
      const [refused] = await storeFiles(target, [bad]);
      expect(refused.status).toBe(0xc000);
      expect(refused.comment).toMatch(/not a valid UID/);
    } finally {
      await engine.cleanup();
    }
  });
});

describe('presentation contexts', () => {
  const file = (sopClassUid: string, transferSyntaxUid: string): StoredFile => ({
    object: fileObject(''),
    sopClassUid,
    sopInstanceUid: newUid(),
    transferSyntaxUid,
  });

  it('proposes uncompressed fallbacks for compressed and deflated files, shared within a SOP class', () => {
    const mr = '1.2.840.10008.5.1.4.1.1.4';
    expect(contextKeys(file(mr, TransferSyntax.JpegBaseline))).toEqual([
      `${mr}|${TransferSyntax.JpegBaseline}`,
      `${mr}|${TransferSyntax.ExplicitVRLittleEndian}`,
      `${mr}|${TransferSyntax.ImplicitVRLittleEndian}`,
    ]);
    expect(contextKeys(file(mr, TransferSyntax.DeflatedExplicitVRLittleEndian))).toHaveLength(3);
    expect(contextKeys(file(mr, TransferSyntax.ExplicitVRLittleEndian))).toHaveLength(2);
    expect(contextKeys(file(mr, TransferSyntax.ImplicitVRLittleEndian))).toHaveLength(1);
    expect(contextKeys(file(mr, TransferSyntax.ExplicitVRBigEndian))).toHaveLength(1);
    // Four compressed syntaxes and explicit VR of one SOP class: 4 + 2 contexts, one association.
    const syntaxes = [
      TransferSyntax.JpegBaseline,
      TransferSyntax.JpegLsLossless,
      TransferSyntax.Jpeg2000,
      TransferSyntax.RleLossless,
      TransferSyntax.ExplicitVRLittleEndian,
    ];
    expect(associationGroups(syntaxes.map((ts) => file(mr, ts)))).toHaveLength(1);
  });

  it("starts a new association when a file's contexts would pass 128", () => {
    // 42 SOP classes × 3 contexts = 126; the 43rd needs 3 more.
    const files = Array.from({ length: 43 }, (_, i) =>
      file(`1.2.826.0.1.3680043.10.1337.99.${i}`, TransferSyntax.RleLossless),
    );
    const groups = associationGroups([...files, files[0], files[42]]);
    expect(groups.map((g) => g.length)).toEqual([42, 3]);
    // The same SOP class and syntax again costs nothing, in the association it falls into.
    expect(groups[1]).toEqual([files[42], files[0], files[42]]);
  });
});
