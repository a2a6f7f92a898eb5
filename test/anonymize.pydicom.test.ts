/**
 * De-identification of the real test files Debian's python3-pydicom ships (public test data, read in place,
 * never copied into the repository):
 * - dicom3tools' `dciodvfy` reports no error on any output that it did not report on its input, for the
 *   Basic Profile, each option and all options together;
 * - a public sequence received as UN (rtdose_rle*.dcm) is de-identified like the same sequence received as
 *   SQ (rtdose.dcm): one input UID, one output UID;
 * - Type 1 and 2 attributes the table would break stay valid (rtplan.dcm, test-SR.dcm);
 * - dates the 2018 table did not list (Instance Creation Date/Time, Observation DateTime) do not carry the
 *   study's dates through.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dcmtk } from './helpers/dcmtk.js';
import { anonymize } from '../src/anonymization/deid/anonymize.js';
import { dateShiftDays, mapUid } from '../src/anonymization/deid/derive.js';
import { makeLinkedStudy } from './fixtures/deid-study.js';
import { shiftDate } from '../src/anonymization/deid/clean.js';
import { OPTION_NAMES, type OptionName } from '../src/anonymization/deid/profile.js';
import { attr, parseHeader, type DicomHeader } from '../src/dicom/header.js';

const DATA = '/usr/lib/python3/dist-packages/pydicom/data';
const TEST_FILES = join(DATA, 'test_files');
const SECRET = 'pydicom-test-secret';
const available = existsSync(TEST_FILES);

/** Files the engine cannot read at all (ingest refuses them too), and why. */
const UNREADABLE: Record<string, RegExp> = {
  'test_files/no_meta.dcm': /not a DICOM Part-10 file/,
  'test_files/rtstruct.dcm': /not a DICOM Part-10 file/,
  'test_files/ExplVR_BigEndNoMeta.dcm': /not a DICOM Part-10 file/,
  'test_files/ExplVR_LitEndNoMeta.dcm': /not a DICOM Part-10 file/,
  'test_files/no_meta_group_length.dcm': /group length/,
  'test_files/meta_missing_tsyntax.dcm': /file meta information/,
  'test_files/MR_truncated.dcm': /truncated/,
  'test_files/rtplan_truncated.dcm': /truncated/,
  'test_files/SC_rgb_jpeg.dcm': /has no valid VR/,
  'test_files/empty_charset_LEI.dcm': /no SOPInstanceUID/,
  'test_files/nested_priv_SQ.dcm': /unreadable dataset/,
  'test_files/dicomdirtests/DICOMDIR-nooffset': /unreadable dataset|truncated/,
  // A private UN of undefined length that dcmjs cannot read either.
  'test_files/UN_sequence.dcm': /undefined length/,
  'test_files/J2K_pixelrep_mismatch.dcm': /multiple character sets/,
  'charset_files/chrH31.dcm': /multiple character sets/,
  'charset_files/chrH32.dcm': /multiple character sets/,
  'charset_files/chrI2.dcm': /multiple character sets/,
  'charset_files/chrJapMulti.dcm': /multiple character sets/,
  'charset_files/chrJapMultiExplicitIR6.dcm': /multiple character sets/,
  'charset_files/chrKoreanMulti.dcm': /multiple character sets/,
  'charset_files/chrSQEncoding.dcm': /multiple character sets/,
  'charset_files/chrSQEncoding1.dcm': /multiple character sets/,
};

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

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const name of (await readdir(dir)).sort()) {
    const path = join(dir, name);
    if ((await stat(path)).isDirectory()) out.push(...(await listFiles(path)));
    else if (!/\.(py|pyc|json|txt|dump|gz|md)$/.test(name) && name !== 'README') out.push(path);
  }
  return out;
}

/** dciodvfy's errors, with the values that de-identification changes (UIDs, quoted and shown values) blanked. */
async function iodErrors(path: string): Promise<string[]> {
  const r = await dcmtk('dciodvfy', [path]);
  return [
    ...new Set(
      `${r.stdout}\n${r.stderr}`
        .split('\n')
        .filter((l) => l.startsWith('Error'))
        .map((l) =>
          l
            .replace(/\b\d+(\.\d+)+\b/g, '<uid>')
            .replace(/(UID) \S+/g, '$1 <uid>')
            .replace(/"[^"]*"/g, '"…"')
            .replace(/= <[^>]*>/g, '= <…>')
            .trim(),
        ),
    ),
  ];
}

/** Runs `task` over `items`, `width` at a time. */
async function pool<T>(items: readonly T[], width: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await task(items[next++]!);
    }),
  );
}

const file = (name: string) => readFile(join(TEST_FILES, name));
const item = (header: DicomHeader, sequence: string) =>
  (header.dataset[sequence]?.Value?.[0] ?? {}) as Record<string, { Value?: unknown[] }>;

describe.runIf(available)("pydicom's test files", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sluice-deid-pydicom-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('dciodvfy reports no new error on any output, for every profile', async () => {
    // Every file with the Basic Profile and all options together, and with two of the single options in
    // turn: each option meets more than twenty files (the whole matrix takes a minute on a busy machine).
    const inputs: Array<{ name: string; bytes: Buffer; path: string }> = [];
    const refused: Record<string, string> = {};
    for (const path of await listFiles(DATA)) {
      const name = relative(DATA, path);
      const bytes = await readFile(path);
      try {
        parseHeader(bytes);
        anonymize(bytes, { secret: SECRET });
        inputs.push({ name, bytes, path });
      } catch (err) {
        refused[name] = (err as Error).message;
      }
    }
    // What cannot be read is known, for a known reason (DICOMDIRs are not storage SOP classes).
    for (const [name, message] of Object.entries(refused))
      expect(message, name).toMatch(UNREADABLE[name] ?? /not a storage SOP class/);
    expect(inputs.length).toBeGreaterThan(60);

    const failures: string[] = [];
    let outputs = 0;
    const singles = PROFILES.slice(1, -1);
    const seen = new Set<string>();
    await pool(inputs, 3, async ({ name, bytes, path }) => {
      const before = new Set(await iodErrors(path));
      const turn = inputs.findIndex((i) => i.name === name) * 2;
      const profiles = [
        PROFILES[0]!,
        PROFILES.at(-1)!,
        ...[0, 1].map((k) => singles[(turn + k) % singles.length]!),
      ];
      for (const options of profiles) {
        seen.add(options.join('+'));
        const out = join(dir, `${name.replace(/\W+/g, '_')}-${options.length}-${options[0] ?? 'basic'}.dcm`);
        await writeFile(out, anonymize(bytes, { secret: SECRET, options }).bytes);
        const added = (await iodErrors(out)).filter((e) => !before.has(e));
        if (added.length)
          failures.push(`${name} ${options.join('+') || 'BASIC_PROFILE'}: ${added.join('; ')}`);
        outputs++;
        await rm(out);
      }
    });
    expect(failures).toEqual([]);
    expect(outputs).toBe(inputs.length * 4);
    expect(seen.size).toBe(PROFILES.length);
  }, 240_000);

  it('a public sequence received as UN is de-identified like the same sequence received as SQ', async () => {
    const real = '1.2.123.456.78.9.0123.4567.89012345678901'; // ReferencedSOPInstanceUID of the plan
    const outputs = await Promise.all(
      ['rtdose.dcm', 'rtdose_rle.dcm', 'rtdose_rle_1frame.dcm', 'rtdose_expb.dcm'].map(async (name) => {
        const input = await file(name);
        const result = anonymize(input, { secret: SECRET });
        const plan = item(result.header, '300C0002');
        return { name, input, result, uid: String(plan['00081155']?.Value?.[0]) };
      }),
    );
    for (const { name, input, result, uid } of outputs) {
      // The same real UID in every input, at the same place…
      expect(input.includes(Buffer.from(real, 'latin1')), name).toBe(true);
      // …and one new UID in every output, the real one nowhere.
      expect(uid, name).toBe(outputs[0]!.uid);
      expect(uid, name).not.toBe(real);
      expect(result.bytes.includes(Buffer.from(real, 'latin1')), name).toBe(false);
    }
    // The UN elements are written with their real VR: the sequence, and the plain values around it.
    const rle = parseHeader(outputs[1]!.result.bytes);
    expect(rle.dataset['300C0002']!.vr).toBe('SQ');
    expect(rle.dataset['00080060']!.vr).toBe('CS');
    expect(attr(rle, 'Modality')).toBe('RTDOSE');
    expect(rle.dataset['00280009']!.vr).toBe('AT');
  });

  it('keeps Type 1 and 2 attributes valid: Treatment Machine Name, Verification DateTime, Verifying Organization', async () => {
    const plan = anonymize(await file('rtplan.dcm'), { secret: SECRET });
    const beam = item(plan.header, '300A00B0');
    expect(beam['300A00B2']).toBeDefined(); // X/Z: zero length, as a Type 2 attribute may be
    expect((beam['300A00B2']!.Value ?? []).filter(Boolean)).toEqual([]);

    const sr = anonymize(await file('test-SR.dcm'), { secret: SECRET });
    const verifier = item(sr.header, '0040A073');
    expect(String(verifier['0040A030']?.Value?.[0])).toMatch(/^\d{14}/); // a dummy DateTime, not empty
    expect(String(verifier['0040A027']?.Value?.[0])).toBe('ANONYMIZED'); // D in the current table
    expect(verifier['0040A075']?.Value?.[0]).toEqual({ Alphabetic: 'ANONYMOUS' });
  });

  it('carries no date of the study through the dates the 2018 table left out', async () => {
    const names = [
      'CT_small.dcm',
      'MR_small.dcm',
      'rtdose.dcm',
      'test-SR.dcm',
      'reportsi.dcm',
      'JPEG2000.dcm',
    ];
    let compared = 0;
    for (const name of names) {
      const input = parseHeader(await file(name));
      const basic = anonymize(await file(name), { secret: SECRET });
      const shifted = anonymize(await file(name), {
        secret: SECRET,
        options: ['RETAIN_LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED_DATES'],
      });
      const days = dateShiftDays(SECRET, attr(input, 'PatientName'), attr(input, 'PatientID'));
      for (const keyword of ['InstanceCreationDate', 'ContentDate', 'StudyDate', 'AcquisitionDate']) {
        const real = attr(input, keyword);
        if (!real) continue;
        compared++;
        // Basic: a dummy or nothing; Modified Dates: moved back with the others.
        expect(['', '19000101'], `${name} ${keyword}`).toContain(attr(basic.header, keyword));
        expect(attr(shifted.header, keyword), `${name} ${keyword}`).toBe(shiftDate(real, days));
      }
      const time = attr(input, 'InstanceCreationTime');
      if (time) expect(['', '000000'], name).toContain(attr(basic.header, 'InstanceCreationTime'));
      // SR: the observation time of the content is a dummy under the Basic Profile.
      const observation = attr(input, 'ObservationDateTime');
      if (observation) expect(attr(basic.header, 'ObservationDateTime'), name).not.toBe(observation);
    }
    expect(compared).toBeGreaterThan(8);
  });

  it('keeps the item of a Referenced Study Sequence (X/Z): no new dciodvfy error on a synthetic CT, for every profile', async () => {
    const study = makeLinkedStudy({ images: 2 });
    const input = join(dir, 'linked.dcm');
    await writeFile(input, study.files[0]!);
    const before = new Set(await iodErrors(input));
    for (const options of PROFILES) {
      const result = anonymize(study.files[0]!, { secret: SECRET, options });
      const referenced = item(result.header, '00081110');
      expect(String(referenced['00081155']?.Value?.[0]), options.join('+')).toBe(
        options.includes('RETAIN_UIDS') ? study.studyInstanceUid : mapUid(SECRET, study.studyInstanceUid),
      );
      const out = join(dir, `linked-${options.length}-${options[0] ?? 'basic'}.dcm`);
      await writeFile(out, result.bytes);
      expect(
        (await iodErrors(out)).filter((e) => !before.has(e)),
        options.join('+'),
      ).toEqual([]);
    }
  });
});
