/**
 * De-identification checked from the outside: instances with a distinct marker in every attribute of
 * Table E.1-1, at the root and three sequence levels down, in the items of every sequence the table names
 * and in private blocks, are anonymized with every option set, and with option sets applied one after the
 * other to the same study through the keys (Basic → Retain UIDs → Basic, and the reverse). Wherever the
 * profile says a value goes or changes, its marker must be found neither in the parsed output nor in the
 * raw bytes; where it says keep, the marker must be there, unchanged.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import dcmjs from 'dcmjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CONTAINERS,
  makeMarkedInstance,
  MARKER_FAMILY,
  type MarkedInstance,
  type Marker,
} from './fixtures/deid-markers.js';
import { newUid } from './fixtures/dicom-fixtures.js';
import { anonymize } from '../src/anonymization/deid/anonymize.js';
import {
  actionFor,
  compileProfile,
  OPTION_NAMES,
  type CompiledProfile,
  type OptionName,
} from '../src/anonymization/deid/profile.js';
import { AnonymizationService } from '../src/anonymization/service.js';
import { openSqliteState } from '../src/storage/sqlite-state.js';
import type { StateStore } from '../src/storage/state-store.js';

const SECRET = Buffer.alloc(32, 9);
type Expectation = 'gone' | 'changed' | 'kept' | 'any';
type El = { vr: string; Value?: unknown[] };
type Dict = Record<string, El>;

const OPAQUE = new Set(['OB', 'OW', 'UN']);
/** Markers that are unique strings in the bytes (text, names, UIDs, byte markers); the rest are compared by place. */
const SEARCHABLE = new Set([
  'PN',
  'UI',
  'LO',
  'SH',
  'LT',
  'ST',
  'UT',
  'UC',
  'CS',
  'AE',
  'UR',
  'OB',
  'OW',
  'UN',
]);
const PATIENT_NAME = 0x00100010;
const PATIENT_ID = 0x00100020;

/** What the profile must do with a marker, from the table's actions along its path. */
function expectation(m: Marker, profile: CompiledProfile): Expectation {
  let mode: 'normal' | 'dummy' | 'clean' = 'normal';
  for (const step of m.path.slice(0, -1)) {
    if ((CONTAINERS as readonly number[]).includes(step.tag)) continue;
    const action = actionFor(profile, step.tag) ?? 'K';
    if (action === 'X') return 'gone';
    if (action === 'Z') {
      if (!profile.removableSequences.has(step.tag)) return 'gone';
      mode = 'dummy';
    } else if (action === 'D') mode = 'dummy';
    else if (action === 'C') mode = 'clean';
  }
  if (m.private) return m.private === 'safe' && profile.safePrivate.size ? 'kept' : 'gone';
  if (m.path.length === 1 && (m.tag === PATIENT_NAME || m.tag === PATIENT_ID)) return 'changed';
  if (!m.named) return mode === 'dummy' ? 'changed' : 'any';
  const group = m.tag >>> 16;
  // An overlay or a curve goes whole with its data.
  if ((group & 0xff00) === 0x6000 && actionFor(profile, 0x60003000) === 'X') return 'gone';
  const action = actionFor(profile, m.tag)!;
  switch (action) {
    case 'X':
    case 'Z':
      return 'gone';
    case 'D':
    case 'U':
      return 'changed';
    case 'K':
      return 'kept';
    case 'C':
      if (m.vr === 'DA' || m.vr === 'DT' || m.vr === 'PN') return 'changed';
      if (OPAQUE.has(m.vr) && (group & 0xff00) !== 0x6000 && (group & 0xff00) !== 0x5000)
        return expectation({ ...m, path: [{ tag: m.tag }] }, compileProfile([]));
      return 'any';
  }
}

const read = (bytes: Buffer): { meta: Dict; dict: Dict } =>
  dcmjs.data.DicomMessage.readFile(
    bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length) as ArrayBuffer,
  ) as never;

const hex = (tag: number) => tag.toString(16).toUpperCase().padStart(8, '0');

/** The value at a marker's place in the parsed output, as text (or bytes), undefined when absent. */
function valueAt(dict: Dict, m: Marker): string | Buffer | undefined {
  let at: Dict | undefined = dict;
  for (const step of m.path.slice(0, -1))
    at = at?.[hex(step.tag)]?.Value?.[step.item ?? 0] as Dict | undefined;
  const v = at?.[hex(m.tag)]?.Value?.[0];
  if (v === undefined || v === null) return undefined;
  if (v instanceof ArrayBuffer) return Buffer.from(v);
  if (typeof v === 'object' && 'Alphabetic' in v) return String((v as { Alphabetic: string }).Alphabetic);
  return String(v);
}

/** Checks one output against its markers; answers what failed (empty when all is well). */
function check(
  input: MarkedInstance,
  output: Buffer,
  options: readonly OptionName[],
): { failures: string[]; checked: Record<Expectation, number> } {
  const profile = compileProfile(options);
  const { meta, dict } = read(output);
  const failures: string[] = [];
  const checked: Record<Expectation, number> = { gone: 0, changed: 0, kept: 0, any: 0 };
  let familyMayStay = false;
  for (const m of input.markers) {
    const want = expectation(m, profile);
    checked[want]++;
    if (want === 'any') continue;
    if (want === 'kept' && m.cleanable) familyMayStay = true;
    const where = `${m.path.map((s) => hex(s.tag)).join('/')} ${m.vr} (${want})`;
    const marker = m.bytes ?? Buffer.from(m.value, 'latin1');
    const found = SEARCHABLE.has(m.vr)
      ? output.includes(marker)
      : (() => {
          const v = valueAt(dict, m);
          return v !== undefined && (Buffer.isBuffer(v) ? v.equals(marker) : v === m.value);
        })();
    if (want === 'kept' && !found) failures.push(`${where}: ${m.value} was not kept`);
    if (want !== 'kept' && found) failures.push(`${where}: ${m.value} survived`);
  }
  if (!familyMayStay && output.includes(Buffer.from(MARKER_FAMILY, 'latin1')))
    failures.push(`${MARKER_FAMILY} (the patient's family name) survived in free text`);
  if (String(meta['00020003']!.Value![0]) !== String(dict['00080018']!.Value![0]))
    failures.push('the file meta does not name the new SOP Instance UID');
  return { failures, checked };
}

const PROFILES: OptionName[][] = [
  [],
  ...OPTION_NAMES.filter((o) => o !== 'BASIC_PROFILE').map((o) => [o]),
  [
    'CLEAN_GRAPHICS',
    'CLEAN_STRUCTURED_CONTENT',
    'CLEAN_DESCRIPTORS',
    'RETAIN_LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED_DATES',
    'RETAIN_PATIENT_CHARACTERISTICS',
    'RETAIN_DEVICE_IDENTITY',
    'RETAIN_INSTITUTION_IDENTITY',
    'RETAIN_UIDS',
    'RETAIN_SAFE_PRIVATE',
  ],
];

describe('markers in every attribute of the table, nested three levels and in private blocks', () => {
  const instance = makeMarkedInstance();

  it('plants thousands of markers, at every level', () => {
    expect(instance.markers.length).toBeGreaterThan(2000);
    expect(Math.max(...instance.markers.map((m) => m.path.length))).toBe(5);
    expect(instance.markers.filter((m) => m.private).length).toBeGreaterThan(4 * 4);
  });

  it.each(PROFILES.map((o) => [o.join('+') || 'BASIC_PROFILE', o] as const))('%s', (_label, options) => {
    const result = anonymize(instance.bytes, { options, secret: SECRET });
    const { failures, checked } = check(instance, result.bytes, options);
    expect(failures).toEqual([]);
    expect(checked.gone + checked.changed).toBeGreaterThan(1000);
    if (options.length === 1 && /^RETAIN_(?!LONG.*MODIFIED)/.test(options[0]!))
      expect(checked.kept).toBeGreaterThan(0);
  });
});

describe('option sets applied one after the other to one study, through the keys', () => {
  let dir: string;
  let state: StateStore;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sluice-markers-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** Three instances of one study and series that refer to each other. */
  const study = (seed: number) => {
    const studyInstanceUid = newUid();
    const seriesInstanceUid = newUid();
    const frameOfReferenceUid = newUid();
    const sops = [newUid(), newUid(), newUid()];
    return sops.map((sopInstanceUid, i) =>
      makeMarkedInstance({
        instance: seed * 3 + i,
        studyInstanceUid,
        seriesInstanceUid,
        frameOfReferenceUid,
        sopInstanceUid,
        patientName: `${MARKER_FAMILY}^Chain${seed}`,
        patientId: `CHAIN-${seed}`,
        references: sops.filter((s) => s !== sopInstanceUid),
      }),
    );
  };

  it.each([
    ['Basic → Retain UIDs → Basic', [[], ['RETAIN_UIDS'], []]],
    ['Retain UIDs → Basic → Retain UIDs', [['RETAIN_UIDS'], [], ['RETAIN_UIDS']]],
  ] as Array<[string, OptionName[][]]>)('%s', async (label, steps) => {
    state = openSqliteState(join(dir, `${label.replace(/\W+/g, '-')}.sqlite`));
    try {
      const service = new AnonymizationService(SECRET, state);
      const instances = study(steps[0]!.length ? 1 : 2);
      const basicUids: string[][] = [];
      for (const options of steps) {
        const outputs: Awaited<ReturnType<typeof service.anonymize>>[] = [];
        for (const i of instances) outputs.push(await service.anonymize(i.bytes, { options }));
        outputs.forEach((out, n) => {
          const { failures } = check(instances[n]!, out.bytes, options);
          expect(failures, `${label}, ${options.join('+') || 'Basic'}, instance ${n}`).toEqual([]);
        });
        // One patient, one pseudonym across every step.
        expect(new Set(outputs.map((o) => o.key!.anonPatientID)).size).toBe(1);
        // References point at the other instances' new SOP Instance UIDs.
        const sops = outputs.map((o) => o.header.sopInstanceUid);
        outputs.forEach((out, n) => {
          const refs = (read(out.bytes).dict['00081140']!.Value as Dict[]).slice(1);
          expect(refs.map((r) => String(r['00081155']!.Value![0]))).toEqual(sops.filter((_, k) => k !== n));
        });
        if (!options.length) basicUids.push(sops);
      }
      // The Basic Profile gives the same UIDs before and after Retain UIDs ran in between.
      if (basicUids.length === 2) expect(basicUids[1]).toEqual(basicUids[0]);
    } finally {
      await state.close();
    }
  });
});
