/**
 * Fuzzing ingest with mutants of real files (pydicom's public test files; a fixed seed, so every run tries
 * the same 1,000 mutants): each is either stored byte for byte, indexed and readable by DCMTK's dcmdump,
 * or refused with a clear 400 and quarantined. Nothing else: no 500, no hang, no file DCMTK cannot read.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestEngine, type TestEngine } from './helpers/engine.js';
import { parseHeader } from '../src/dicom/header.js';
import { datasetOffset } from '../src/dicom/part10.js';
import { syntaxOf, TransferSyntax } from '../src/dicom/transfer-syntax.js';
import { DatasetWalker, type RawElement } from '../src/dicom/walker.js';

const FILES = '/usr/lib/python3/dist-packages/pydicom/data/test_files';
const MUTANTS = 1000;
const run = promisify(execFile);

/** mulberry32: a small seeded generator, so that a failure is found again on the next run. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Where the elements and items of a file start (nested ones too), found by walking its dataset. */
interface Landmarks {
  elements: Array<{ start: number; headerLength: number; lengthOffset: number }>;
  items: number[];
}
function landmarks(file: Buffer): Landmarks {
  const out: Landmarks = { elements: [], items: [] };
  try {
    const header = parseHeader(file);
    const start = datasetOffset(file);
    if (header.transferSyntaxUid === TransferSyntax.DeflatedExplicitVRLittleEndian) return out;
    const syntax = syntaxOf(header.transferSyntaxUid);
    const walker = new DatasetWalker(file, syntax.explicit, syntax.littleEndian);
    const visit = (elements: RawElement[]) => {
      for (const el of elements) {
        out.elements.push(el);
        for (const item of el.items ?? []) {
          out.items.push(item.start);
          visit(item.elements);
        }
      }
    };
    visit(walker.elements(start, file.length, 0).elements);
  } catch {
    // a file the walker cannot take apart gets only the blind mutations
  }
  return out;
}

type Mutation = (file: Buffer, rnd: () => number, marks: Landmarks) => { bytes: Buffer; what: string };
const pick = <T>(list: T[], rnd: () => number) => list[Math.floor(rnd() * list.length)];
const LENGTHS = (old: number, rnd: () => number) => [
  0xffffffff,
  0xfffffffe,
  old + 2,
  old - 2,
  old * 2,
  Math.floor(rnd() * 0x10000),
  Math.floor(rnd() * 0xffffffff),
];
const at = (file: Buffer, rnd: () => number, headerBias = true) =>
  // Most mutations land in the first 4 KB, where headers and lengths are; some anywhere.
  Math.floor(rnd() * (headerBias && rnd() < 0.8 ? Math.min(file.length, 4096) : file.length));

const MUTATIONS: Mutation[] = [
  // Structure-aware: an element's VR, an element's length, an item's length, wherever they are nested.
  (file, rnd, marks) => {
    const el = marks.elements.length ? pick(marks.elements, rnd) : undefined;
    if (!el || (el.headerLength === 8 && el.lengthOffset === el.start + 4))
      return { bytes: file, what: 'unchanged' };
    const bytes = Buffer.from(file);
    const vr = pick(['XN', 'SQ', 'UN', 'OB', 'UT', 'AE', 'zz', 'QQ'], rnd);
    bytes.write(vr, el.start + 4, 'latin1');
    return { bytes, what: `VR "${vr}" on the element at ${el.start}` };
  },
  (file, rnd, marks) => {
    const el = marks.elements.length ? pick(marks.elements, rnd) : undefined;
    if (!el) return { bytes: file, what: 'unchanged' };
    const bytes = Buffer.from(file);
    if (el.lengthOffset < 0) {
      const value = Math.floor(rnd() * 0x10000);
      bytes.writeUInt16LE(value, el.start + 6);
      return { bytes, what: `16-bit length ${value} on the element at ${el.start}` };
    }
    const value = pick(LENGTHS(bytes.readUInt32LE(el.lengthOffset), rnd), rnd) >>> 0;
    bytes.writeUInt32LE(value, el.lengthOffset);
    return { bytes, what: `length ${value} on the element at ${el.start}` };
  },
  (file, rnd, marks) => {
    const item = marks.items.length ? pick(marks.items, rnd) : undefined;
    if (item === undefined) return { bytes: file, what: 'unchanged' };
    const bytes = Buffer.from(file);
    const value = pick(LENGTHS(bytes.readUInt32LE(item + 4), rnd), rnd) >>> 0;
    bytes.writeUInt32LE(value, item + 4);
    return { bytes, what: `length ${value} on the item at ${item}` };
  },
  (file, rnd) => {
    const bytes = Buffer.from(file);
    const n = 1 + Math.floor(rnd() * 8);
    for (let i = 0; i < n; i++) bytes[at(file, rnd)] = Math.floor(rnd() * 256);
    return { bytes, what: `${n} random byte(s)` };
  },
  (file, rnd) => {
    const cut = 132 + Math.floor(rnd() * (file.length - 132));
    return { bytes: file.subarray(0, cut), what: `cut at ${cut}` };
  },
  (file, rnd) => {
    const bytes = Buffer.from(file);
    const o = at(file, rnd) & ~1;
    const values = [0xffffffff, 0x7fffffff, 0x0000ffff, 0x00010000, Math.floor(rnd() * 0xffffffff), 0];
    const value = values[Math.floor(rnd() * values.length)];
    if (o + 4 <= bytes.length) bytes.writeUInt32LE(value >>> 0, o);
    return { bytes, what: `u32 0x${value.toString(16)} at ${o}` };
  },
  (file, rnd) => {
    const bytes = Buffer.from(file);
    const o = at(file, rnd) & ~1;
    const value = Math.floor(rnd() * 0x10000);
    if (o + 2 <= bytes.length) bytes.writeUInt16LE(value, o);
    return { bytes, what: `u16 0x${value.toString(16)} at ${o}` };
  },
  (file, rnd) => {
    const o = at(file, rnd);
    const n = 1 + Math.floor(rnd() * 16);
    const junk = Buffer.from(Array.from({ length: n }, () => Math.floor(rnd() * 256)));
    return {
      bytes: Buffer.concat([file.subarray(0, o), junk, file.subarray(o)]),
      what: `${n} byte(s) inserted at ${o}`,
    };
  },
  (file, rnd) => {
    const a = at(file, rnd);
    const n = Math.floor(rnd() * 64);
    return {
      bytes: Buffer.concat([file.subarray(0, a), file.subarray(a + n)]),
      what: `${n} byte(s) removed at ${a}`,
    };
  },
  (file, rnd) => {
    const bytes = Buffer.from(file);
    const o = at(file, rnd);
    const vrs = ['XN', 'SQ', 'UN', 'OB', 'UT', 'PN', '\0\0', 'US'];
    const vr = vrs[Math.floor(rnd() * vrs.length)];
    bytes.write(vr, o, 'latin1');
    return { bytes, what: `"${vr}" written at ${o}` };
  },
];

let engine: TestEngine;
let dir: string;
beforeAll(async () => {
  engine = await startTestEngine();
  dir = await mkdtemp(join(tmpdir(), 'sluice-fuzz-'));
});
afterAll(async () => {
  await engine?.cleanup();
  await rm(dir, { recursive: true, force: true });
});

const upload = (bytes: Buffer) => engine.api('/api/images', { method: 'POST', body: new Uint8Array(bytes) });

async function dcmdumpReads(path: string): Promise<string | undefined> {
  try {
    await run('dcmdump', ['-q', path]);
    return undefined;
  } catch (err) {
    return `${(err as { stderr?: string }).stderr ?? (err as Error).message}`.slice(0, 300);
  }
}

describe(`${MUTANTS} mutants of pydicom's test files`, () => {
  it('are each stored byte for byte and readable by dcmdump, or refused with 400 and quarantined', async () => {
    const originals: Array<{ name: string; bytes: Buffer; marks: Landmarks }> = [];
    for (const name of (await readdir(FILES)).filter((f) => f.endsWith('.dcm')).sort()) {
      const bytes = await readFile(join(FILES, name));
      if (bytes.length > 300_000 || (await dcmdumpReads(join(FILES, name)))) continue;
      const r = await upload(bytes);
      await r.arrayBuffer();
      if (r.status === 200 || r.status === 201) originals.push({ name, bytes, marks: landmarks(bytes) });
    }
    expect(originals.length).toBeGreaterThan(30);

    const rnd = random(20261205);
    const problems: string[] = [];
    const toRead: Array<{ path: string; what: string }> = [];
    let refused = 0;
    let stored = 0;
    const quarantinedCount = async () =>
      Number((await engine.api('/api/quarantine?count=1')).headers.get('x-total-count'));
    const quarantineBefore = await quarantinedCount();
    for (let i = 0; i < MUTANTS; i++) {
      const original = originals[Math.floor(rnd() * originals.length)];
      const mutation = MUTATIONS[Math.floor(rnd() * MUTATIONS.length)];
      const { bytes, what } = mutation(original.bytes, rnd, original.marks);
      const label = `mutant ${i} of ${original.name} (${what})`;
      const r = await upload(bytes);
      if (r.status === 400) {
        refused++;
        const reason = await r.text();
        if (!reason.trim()) problems.push(`${label}: 400 without a reason`);
        continue;
      }
      if (r.status !== 200 && r.status !== 201) {
        problems.push(`${label}: answered ${r.status} ${(await r.text()).slice(0, 200)}`);
        continue;
      }
      stored++;
      const image = (await r.json()) as { id: number };
      const back = Buffer.from(await (await engine.api(`/api/images/${image.id}`)).arrayBuffer());
      if (!back.equals(bytes)) problems.push(`${label}: stored bytes differ from those sent`);
      const path = join(dir, `${i}.dcm`);
      await writeFile(path, back);
      toRead.push({ path, what: label });
    }
    // dcmdump over what was stored, four at a time.
    for (let i = 0; i < toRead.length; i += 4)
      await Promise.all(
        toRead.slice(i, i + 4).map(async ({ path, what }) => {
          const failure = await dcmdumpReads(path);
          if (failure) problems.push(`${what}: stored but dcmdump cannot read it: ${failure}`);
        }),
      );
    const quarantined = await quarantinedCount();
    expect(problems).toEqual([]);
    expect(quarantined - quarantineBefore).toBe(refused);
    expect(stored + refused).toBe(MUTANTS);
    expect(refused).toBeGreaterThan(100);
    expect(stored).toBeGreaterThan(100);
  });
});
