import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import dcmjs from 'dcmjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  FAMILY,
  hex,
  makeDeidInstance,
  NESTED,
  PATIENT_ID,
  PATIENT_NAME,
  type Planted,
} from '../../../test/fixtures/deid-instance.js';
import { makeInstance, newUid } from '../../../test/fixtures/dicom-fixtures.js';
import { dcmtk } from '../../../test/helpers/dcmtk.js';
import { attr, parseHeader } from '../../dicom/header.js';
import { encodeElement, EXPLICIT_LITTLE, itemHeader } from '../../dicom/encode.js';
import { splitPart10 } from '../../dicom/part10.js';
import { DatasetWalker } from '../../dicom/walker.js';
import { anonymize, type AnonymizeOptions } from './anonymize.js';
import { dateShiftDays, mapUid, methodMark, patientPseudonym } from './derive.js';
import { shiftDate } from './clean.js';
import {
  BASIC_COLUMN,
  OPTION_NAMES,
  OPTIONS,
  parseTableTag,
  resolveCombined,
  tableE11,
  type Action,
  type OptionName,
} from './profile.js';

const { DicomMessage } = dcmjs.data;
const SECRET = 'test-installation-secret';

type El = { vr: string; Value?: any[] };
function read(bytes: Buffer): { meta: Record<string, El>; dict: Record<string, El> } {
  const ab = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length) as ArrayBuffer;
  return DicomMessage.readFile(ab) as never;
}
/** Every value of the dataset, nested ones too, as text, except UIDs and binary data. */
function textValues(dict: Record<string, El>): string[] {
  return Object.values(dict).flatMap((el) =>
    el.vr === 'SQ'
      ? (el.Value ?? []).flatMap((item: Record<string, El>) => textValues(item))
      : ['UI', 'OB', 'OW', 'OF', 'OD', 'OL', 'OV', 'UN'].includes(el.vr)
        ? []
        : (el.Value ?? []).map((v) => (typeof v === 'object' ? JSON.stringify(v) : String(v))),
  );
}

const str = (el: El | undefined): string => {
  const v = el?.Value?.[0];
  if (v === undefined || v === null) return '';
  return typeof v === 'object' && 'Alphabetic' in v ? String(v.Alphabetic) : String(v);
};
const isEmpty = (el: El) => !(el.Value ?? []).some((v) => v !== '' && v !== null && v !== undefined);

/** The code Table E.1-1 gives, computed from the rows here rather than through the engine's compiler. */
function expectedCode(tag: number, options: readonly OptionName[]): string {
  const row = tableE11().find((r) => {
    const p = parseTableTag(r.tag);
    return p.kind === 'exact' && p.tag === tag;
  })!;
  const byRank = [...options].sort((a, b) => OPTIONS[b].rank - OPTIONS[a].rank);
  const code = byRank.map((o) => (OPTIONS[o].column ? row.actions[OPTIONS[o].column!] : '')).find((c) => c);
  return code || row.actions[BASIC_COLUMN]!;
}
const expectedAction = (tag: number, options: readonly OptionName[]): Action =>
  resolveCombined(expectedCode(tag, options) as never);

const PROFILES: OptionName[][] = [
  [],
  ...OPTION_NAMES.filter((o) => o !== 'BASIC_PROFILE').map((o) => [o]),
  ['RETAIN_UIDS', 'RETAIN_DEVICE_IDENTITY', 'CLEAN_DESCRIPTORS', 'RETAIN_PATIENT_CHARACTERISTICS'],
];

function checkAttribute(p: Planted, action: Action, out: Record<string, El>, options: OptionName[]) {
  const el = out[hex(p.tag)];
  const what = `${p.name} ${hex(p.tag)} (${action})`;
  const shift = dateShiftDays(SECRET, PATIENT_NAME, PATIENT_ID);
  const nestedUidAction = expectedAction(0x00081155, options);
  const checkItem = (mode: 'kept' | 'dummy' | 'clean') => {
    expect(el?.Value, what).toHaveLength(1);
    const item = el!.Value![0] as Record<string, El>;
    const index = Number(/\.(\d+)$/.exec(str(item['00081155']))?.[1] ?? NaN);
    const original = tableE11().findIndex((r) => r.name === p.name);
    expect(str(item['00081155']), what).toBe(
      nestedUidAction === 'K'
        ? NESTED.referencedSop(original)
        : mapUid(SECRET, NESTED.referencedSop(original)),
    );
    void index;
    const meaning = str(item['00080104']);
    if (mode === 'kept') expect(meaning, what).toBe(NESTED.codeMeaning(original));
    if (mode === 'dummy') expect(meaning, what).toBe('ANONYMIZED');
    if (mode === 'clean') expect(meaning, what).toBe(`m${original}`);
    expect(item['00090010'], what).toBeUndefined();
    expect(item['00091001'], what).toBeUndefined();
  };
  if (p.tag === 0x00100010 || p.tag === 0x00100020) {
    const pseudonym = patientPseudonym(SECRET, PATIENT_NAME, PATIENT_ID);
    expect(str(el), what).toBe(p.tag === 0x00100010 ? pseudonym.patientName : pseudonym.patientId);
    return;
  }
  switch (action) {
    case 'X':
      expect(el, what).toBeUndefined();
      return;
    case 'Z':
      // X/Z on a sequence: its item stays, with dummy values (an empty Type 3 sequence is invalid).
      if (p.vr === 'SQ' && expectedCode(p.tag, options) === 'X/Z') return checkItem('dummy');
      expect(el, what).toBeDefined();
      expect(isEmpty(el!), what).toBe(true);
      return;
    case 'K':
      if (p.vr === 'SQ') return checkItem('kept');
      if (p.raw instanceof ArrayBuffer)
        expect(Buffer.from(el!.Value![0] as ArrayBuffer), what).toEqual(Buffer.from(p.raw));
      else expect(str(el), what).toBe(p.value);
      return;
    case 'U':
      if (p.vr === 'SQ') return checkItem('kept');
      expect(str(el), what).toBe(mapUid(SECRET, p.value));
      return;
    case 'D': {
      if (p.vr === 'SQ') return checkItem('dummy');
      const v = str(el);
      expect(v, what).not.toBe('');
      expect(v, what).not.toBe(p.value);
      expect(v, what).not.toContain(FAMILY);
      const valid: Record<string, RegExp> = {
        DA: /^\d{8}$/,
        TM: /^\d{6}(\.\d+)?$/,
        DT: /^\d{14}(\.\d+)?$/,
        UI: /^[\d.]+$/,
        PN: /^[A-Z^]+$/,
        SH: /^.{1,16}$/,
        CS: /^[A-Z0-9 _]{1,16}$/,
      };
      if (valid[p.vr]) expect(v, what).toMatch(valid[p.vr]!);
      return;
    }
    case 'C': {
      if (p.vr === 'SQ') return checkItem('clean');
      // Opaque bytes cannot be cleaned: the Basic Profile's action applies.
      if (p.raw instanceof ArrayBuffer) return checkAttribute(p, expectedAction(p.tag, []), out, []);
      const v = str(el);
      if (p.vr === 'DA' || p.vr === 'DT') expect(v, what).toBe(shiftDate(p.value, shift));
      else if (p.vr === 'TM') expect(v, what).toBe(p.value);
      else expect(v, what).toBe(p.value.replace(`${FAMILY} `, ''));
      return;
    }
  }
}

describe('anonymize: every attribute of Table E.1-1, for the Basic Profile and each option', () => {
  const instance = makeDeidInstance();

  it.each(PROFILES.map((options) => [options.join('+') || 'BASIC_PROFILE', options] as const))(
    '%s',
    (_label, options) => {
      const result = anonymize(instance.bytes, { options, secret: SECRET });
      expect(result.skipped).toBe(false);
      // The header answered without a second full parse equals a full parse of the bytes.
      const full = parseHeader(result.bytes);
      expect(result.header.dataset).toEqual(full.dataset);
      expect(result.header.meta).toEqual(full.meta);
      expect(result.header.sopInstanceUid).toBe(full.sopInstanceUid);
      expect(result.header.pixelDataOffset).toBe(full.pixelDataOffset);
      expect(result.length).toBe(result.bytes.length);
      const { meta, dict } = read(result.bytes);
      const applied = ['BASIC_PROFILE', ...options] as OptionName[];
      let checked = 0;
      for (const p of instance.planted) {
        checkAttribute(p, expectedAction(p.tag, applied), dict, applied);
        checked++;
      }
      expect(checked).toBeGreaterThan(270);

      // The de-identification record, with the mark that says this installation applied these options.
      expect(str(dict['00120062'])).toBe('YES');
      const ranked = [...new Set(applied)].sort((a, b) => OPTIONS[a].rank - OPTIONS[b].rank);
      expect(dict['00120063']!.Value).toEqual([
        ...ranked.map((o) => OPTIONS[o].description),
        methodMark(SECRET, ranked, str(dict['00080018'])),
      ]);
      expect(
        dict['00120064']!.Value!.map((item: Record<string, El>) => [
          str(item['00080100']),
          str(item['00080102']),
        ]),
      ).toEqual(
        [...new Set(applied)]
          .sort((a, b) => OPTIONS[a].rank - OPTIONS[b].rank)
          .map((o) => [OPTIONS[o].code, 'DCM']),
      );
      expect(str(dict['00280303'])).toBe(
        applied.includes('RETAIN_LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED_DATES')
          ? 'MODIFIED'
          : applied.includes('RETAIN_LONGITUDINAL_TEMPORAL_INFORMATION')
            ? 'UNMODIFIED'
            : 'REMOVED',
      );

      // The file meta follows the dataset; nothing of the source's meta or preamble survives.
      expect(str(meta['00020003'])).toBe(str(dict['00080018']));
      expect(str(meta['00020003'])).toBe(
        applied.includes('RETAIN_UIDS') ? instance.sopInstanceUid : mapUid(SECRET, instance.sopInstanceUid),
      );
      expect(meta['00020016']).toBeUndefined();
      expect(result.bytes.subarray(0, 128).every((b) => b === 0)).toBe(true);

      // Pixel data bit for bit.
      expect(Buffer.from(dict['7FE00010']!.Value![0] as ArrayBuffer)).toEqual(instance.pixels);
      expect(result.bytes.includes(instance.pixels)).toBe(true);

      // Overlays and curves: removed whole, or cleaned with the Clean Graphics option.
      if (applied.includes('CLEAN_GRAPHICS')) {
        expect(str(dict['60004000'])).toBe('Overlay of knee');
        expect(Buffer.from(dict['60003000']!.Value![0] as ArrayBuffer)).toEqual(Buffer.from([0xff, 0x0f]));
        expect(str(dict['50000022'])).toBe('Curve of');
        expect(dict['50003000']).toBeDefined();
      } else {
        expect(Object.keys(dict).filter((k) => k.startsWith('60') || k.startsWith('50'))).toEqual([]);
      }

      // Private groups: gone, except what Table E.3.10-1 lists under Retain Safe Private.
      const privateTags = Object.keys(dict).filter((k) => parseInt(k.slice(0, 4), 16) & 1);
      if (applied.includes('RETAIN_SAFE_PRIVATE')) {
        expect(privateTags.sort()).toEqual(['00190010', '00191023']);
        expect(str(dict['00190010'])).toBe('GEMS_ACQU_01');
        expect(str(dict['00191023'])).toBe('12.5');
      } else expect(privateTags).toEqual([]);

      // The nested content tree: kept with dummy values (D), or cleaned with Clean Structured Content.
      const inner = (dict['0040A730']!.Value![0] as Record<string, El>)['0040A730']!.Value![0] as Record<
        string,
        El
      >;
      expect(str(inner['0040A123'])).toBe('ANONYMOUS');
      expect(str(inner['0040A160'])).toBe(
        applied.includes('CLEAN_STRUCTURED_CONTENT') ? 'Seen by on knee' : 'ANONYMIZED',
      );
      expect(str(inner['00081155'])).toBe(
        applied.includes('RETAIN_UIDS') ? instance.sopInstanceUid : mapUid(SECRET, instance.sopInstanceUid),
      );

      // The patient's name and ID appear nowhere (the meta's source AE title neither).
      for (const identifying of [PATIENT_NAME, PATIENT_ID, FAMILY.toUpperCase()])
        expect(result.bytes.includes(Buffer.from(identifying, 'latin1')), identifying).toBe(false);
    },
  );
});

describe('anonymize: behaviour', () => {
  it('derives UIDs from the secret: the same UID maps the same way across instances and runs', () => {
    const a = anonymize(makeDeidInstance().bytes, { secret: SECRET });
    const b = anonymize(makeDeidInstance().bytes, { secret: SECRET });
    expect(a.bytes.equals(b.bytes)).toBe(true);
    const c = anonymize(makeDeidInstance().bytes, { secret: 'another installation' });
    expect(c.header.sopInstanceUid).not.toBe(a.header.sopInstanceUid);
  });

  it('keeps UIDs consistent across a multi-series study, references inside sequences included', () => {
    const study = newUid();
    const frame = newUid();
    const series = [newUid(), newUid()];
    const sops = [newUid(), newUid(), newUid(), newUid()];
    const files = sops.map((sop, i) =>
      makeInstance({
        studyInstanceUid: study,
        seriesInstanceUid: series[i >> 1],
        sopInstanceUid: sop,
        instanceNumber: i + 1,
        extra: {
          FrameOfReferenceUID: frame,
          // Each image references the previous one (the first references the last).
          ReferencedImageSequence: [
            {
              ReferencedSOPClassUID: '1.2.840.10008.5.1.4.1.1.2',
              ReferencedSOPInstanceUID: sops[(i + 3) % 4],
            },
          ],
          ReferencedSeriesSequence: [{ SeriesInstanceUID: series[1 - (i >> 1)] }],
        },
      }),
    );
    const out = files.map((f) => read(anonymize(f, { secret: SECRET }).bytes).dict);
    const anonSops = out.map((d) => str(d['00080018']));
    expect(new Set(anonSops).size).toBe(4);
    expect(new Set(out.map((d) => str(d['0020000D'])))).toEqual(new Set([mapUid(SECRET, study)]));
    expect(new Set(out.map((d) => str(d['00200052'])))).toEqual(new Set([mapUid(SECRET, frame)]));
    out.forEach((d, i) => {
      const ref = (d['00081140']!.Value![0] as Record<string, El>)['00081155'];
      expect(str(ref)).toBe(anonSops[(i + 3) % 4]);
      expect(str(ref)).not.toBe(sops[(i + 3) % 4]);
      const otherSeries = str((d['00081115']!.Value![0] as Record<string, El>)['0020000E']);
      expect(otherSeries).toBe(str(out[i < 2 ? 2 : 0]!['0020000E']));
      expect(str(ref.vr === 'UI' ? ref : undefined)).toMatch(/^2\.25\.\d+$/);
    });
  });

  it('shifts dates per patient and keeps intervals (Modified Dates)', () => {
    const options = { options: ['RETAIN_LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED_DATES'], secret: SECRET };
    const date = (bytes: Buffer) => str(read(anonymize(bytes, options).bytes).dict['00080020']);
    const days = (a: string, b: string) =>
      (Date.UTC(+b.slice(0, 4), +b.slice(4, 6) - 1, +b.slice(6, 8)) -
        Date.UTC(+a.slice(0, 4), +a.slice(4, 6) - 1, +a.slice(6, 8))) /
      86_400_000;
    const first = date(makeInstance({ patientId: 'P1', studyDate: '20200101' }));
    const second = date(makeInstance({ patientId: 'P1', studyDate: '20200315' }));
    expect(first).not.toBe('20200101');
    expect(days(first, second)).toBe(74);
    const other = date(makeInstance({ patientId: 'P2', studyDate: '20200101' }));
    expect(other).not.toBe(first);
    expect(shiftDate('20200301', 1)).toBe('20200229');
    expect(shiftDate('20200301120000.5', 1)).toBe('20200229120000.5');
  });

  it('leaves alone only what this installation already anonymized with the same options, unless forced', () => {
    const options = ['CLEAN_DESCRIPTORS'];
    const once = anonymize(makeDeidInstance().bytes, { secret: SECRET, options });
    const again = anonymize(once.bytes, { secret: SECRET, options });
    expect(again.skipped).toBe(true);
    expect(again.bytes).toBe(once.bytes);
    // Other options, or another installation: the profile asked for is applied.
    const other = anonymize(once.bytes, { secret: SECRET, options: ['RETAIN_UIDS'] });
    expect(other.skipped).toBe(false);
    expect(anonymize(once.bytes, { secret: 'elsewhere', options }).skipped).toBe(false);
    const forced = anonymize(once.bytes, { secret: SECRET, options, force: true });
    expect(forced.skipped).toBe(false);
    expect(forced.header.sopInstanceUid).toBe(mapUid(SECRET, once.header.sopInstanceUid));
    // De-identified by someone else (PatientIdentityRemoved YES, no mark of ours): anonymized.
    const elsewhere = makeInstance({
      patientName: PATIENT_NAME,
      extra: { PatientIdentityRemoved: 'YES', DeidentificationMethod: 'Their method' },
    });
    const result = anonymize(elsewhere, { secret: SECRET });
    expect(result.skipped).toBe(false);
    expect(attr(result.header, 'PatientName')).not.toBe(PATIENT_NAME);
    expect(result.header.dataset['00120064']).toBeDefined();
  });

  it('applies root tag values last, the SOP Instance UID into the file meta too', () => {
    const sop = newUid();
    const result = anonymize(makeDeidInstance().bytes, {
      secret: SECRET,
      tagValues: [
        { tag: 0x00100010, value: 'Trial^Subject 7' },
        { tag: 0x00080018, value: sop },
        { tag: 0x00081030, value: 'Baseline' },
      ],
    });
    const { meta, dict } = read(result.bytes);
    expect(str(dict['00100010'])).toBe('Trial^Subject 7');
    expect(str(dict['00081030'])).toBe('Baseline');
    expect(str(dict['00080018'])).toBe(sop);
    expect(str(meta['00020003'])).toBe(sop);
  });

  it('handles a public attribute sent as UN with its dictionary VR', () => {
    const text = Buffer.from(`Knee of ${FAMILY} `, 'latin1');
    const file = makeInstance({
      patientName: PATIENT_NAME,
      extra: { StudyDescription: undefined },
    });
    // Re-encode StudyDescription as UN, as a peer converting from implicit VR without a dictionary would.
    const { meta, dict } = read(file);
    dict['00081030'] = {
      vr: 'UN',
      Value: [text.buffer.slice(text.byteOffset, text.byteOffset + text.length)],
    };
    const withUn = new dcmjs.data.DicomDict(meta);
    withUn.dict = dict;
    const input = Buffer.from(withUn.write());
    expect(input.includes(Buffer.from([0x08, 0x00, 0x30, 0x10, 0x55, 0x4e]))).toBe(true);
    const result = anonymize(input, { secret: SECRET, options: ['CLEAN_DESCRIPTORS'] });
    const out = read(result.bytes).dict['00081030']!;
    expect(out.vr).toBe('LO');
    expect(str(out)).toBe('Knee of');
  });

  it('reads a public sequence sent as UN of undefined length as implicit VR items, and writes it as SQ', () => {
    const reference = newUid();
    const file = makeInstance({
      extra: {
        ReferencedImageSequence: [
          { ReferencedSOPClassUID: '1.2.840.10008.5.1.4.1.1.2', ReferencedSOPInstanceUID: reference },
        ],
      },
    });
    // The sequence as a peer without a dictionary sends it: UN, undefined length, items in implicit VR.
    const implicit = { explicit: false, littleEndian: true };
    const uid = (tag: number, v: string) =>
      encodeElement(tag, '', Buffer.from(v.length % 2 ? `${v}\0` : v), implicit);
    const content = Buffer.concat([uid(0x00081150, '1.2.840.10008.5.1.4.1.1.2'), uid(0x00081155, reference)]);
    const head = encodeElement(0x00081140, 'UN', Buffer.alloc(0), EXPLICIT_LITTLE);
    head.writeUInt32LE(0xffffffff, 8);
    const un = Buffer.concat([
      head,
      itemHeader(0xfffee000, 0xffffffff, true),
      content,
      itemHeader(0xfffee00d, 0, true),
      itemHeader(0xfffee0dd, 0, true),
    ]);
    const { dataset, datasetStart } = splitPart10(file, '1.2.840.10008.1.2.1');
    const sq = new DatasetWalker(dataset, true, true)
      .elements(0, dataset.length, 0)
      .elements.find((e) => e.tag === 0x00081140)!;
    const input = Buffer.concat([
      file.subarray(0, datasetStart + sq.start),
      un,
      file.subarray(datasetStart + sq.end),
    ]);
    // Ingest (dcmjs) cannot read a UN of undefined length: the engine gets the header of the same instance.
    const result = anonymize(input, { secret: SECRET }, parseHeader(file));
    const out = read(result.bytes).dict['00081140']!;
    expect(out.vr).toBe('SQ');
    expect(str((out.Value![0] as Record<string, El>)['00081155'])).toBe(mapUid(SECRET, reference));
    expect(result.bytes.includes(Buffer.from(reference, 'latin1'))).toBe(false);
  });

  it('cleans free text of what identifies anyone, not only of values found elsewhere in the file', () => {
    const identifying = [
      'Zyxwv',
      'Quentin',
      'ZYXWV',
      'PID-778899',
      '778899',
      'Elm Street',
      'Springfield',
      '555',
      'jane.roe',
      'Jane Roe',
      'Mary Jones',
      'House',
      '1961',
      '2019',
      '4711',
      'A12345',
    ];
    const file = makeInstance({
      patientName: 'Zyxwv^Quentin',
      patientId: 'PID-778899',
      studyDescription: 'CT knee for Quentin Zyxwv, 03.02.1961',
      seriesDescription: 'ZYXWV QUENTIN knee axial',
      extra: {
        PatientAddress: '12 Elm Street, Springfield',
        PatientTelephoneNumbers: '555-0142',
        PatientComments:
          'Lives at 12 Elm Street; daughter Mary Jones (jane.roe@example.org) calls +1 555 0142',
        Occupation: 'Teacher at Springfield school, badge 4711-0042',
        Allergies: 'Penicillin; noted by Dr. House on 4 March 2019',
        MedicalAlerts: 'pacemaker; see MRN A12345 and pid778899',
        ImageComments: 'zyxwv, quentin: contrast given 2019-03-04',
      },
    });
    const result = anonymize(file, {
      secret: SECRET,
      options: ['CLEAN_DESCRIPTORS', 'RETAIN_PATIENT_CHARACTERISTICS'],
    });
    const texts = Object.fromEntries(
      [
        'StudyDescription',
        'SeriesDescription',
        'PatientComments',
        'Occupation',
        'Allergies',
        'MedicalAlerts',
        'ImageComments',
      ].map((k) => [k, attr(result.header, k)]),
    );
    for (const [keyword, text] of Object.entries(texts))
      for (const word of identifying) expect(text.toLowerCase(), keyword).not.toContain(word.toLowerCase());
    // What says something clinical stays.
    expect(texts).toMatchObject({
      StudyDescription: 'CT knee for',
      SeriesDescription: 'knee axial',
      Allergies: 'Penicillin; noted by on',
      MedicalAlerts: 'pacemaker; see MRN and',
      ImageComments: 'contrast given',
    });
    expect(texts.PatientComments).toMatch(/^Lives at; daughter/);
    expect(texts.Occupation).toMatch(/^Teacher at/);
    // Digits alone can occur by chance inside the output's fresh UIDs: those are looked for in every value but
    // UIDs; every other word in the raw bytes.
    const values = textValues(read(result.bytes).dict).join('\n').toLowerCase();
    for (const word of identifying)
      if (/^\d+$/.test(word)) expect(values, word).not.toContain(word);
      else expect(result.bytes.includes(Buffer.from(word, 'latin1')), word).toBe(false);
  });

  it.each([
    ['implicit VR little endian', '1.2.840.10008.1.2'],
    ['explicit VR big endian', '1.2.840.10008.1.2.2'],
  ])('rewrites %s data in its own transfer syntax', (_label, ts) => {
    const instance = makeDeidInstance({ transferSyntaxUid: ts });
    const result = anonymize(instance.bytes, { secret: SECRET } satisfies AnonymizeOptions);
    expect(result.header.transferSyntaxUid).toBe(ts);
    expect(result.header.dataset).toEqual(parseHeader(result.bytes).dataset);
    const { dict } = read(result.bytes);
    expect(str(dict['00100010'])).toBe(patientPseudonym(SECRET, PATIENT_NAME, PATIENT_ID).patientName);
    expect(str(dict['0020000D'])).toBe(
      mapUid(SECRET, instance.planted.find((p) => p.tag === 0x0020000d)!.value),
    );
    expect(dict['00091001']).toBeUndefined();
    expect(result.bytes.includes(Buffer.from(PATIENT_NAME, 'latin1'))).toBe(false);
    expect(result.bytes.includes(Buffer.from(PATIENT_ID, 'latin1'))).toBe(false);
  });

  describe('output read by DCMTK', () => {
    let dir: string;
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'sluice-deid-'));
    });
    afterAll(() => rm(dir, { recursive: true, force: true }));

    it.each(PROFILES.map((o) => [o.join('+') || 'BASIC_PROFILE', o] as const))(
      'dcmdump parses the %s output',
      async (label, options) => {
        const file = join(dir, `${label}.dcm`);
        await writeFile(file, anonymize(makeDeidInstance().bytes, { secret: SECRET, options }).bytes);
        const r = await dcmtk('dcmdump', ['-q', file]);
        expect(r.stderr).toBe('');
        expect(r.code).toBe(0);
        expect(r.stdout).toContain('(0012,0062) CS [YES]');
      },
    );

    it.each([
      ['JPEG lossless', ['dcmcjpeg']],
      ['RLE lossless', ['dcmcrle']],
      ['deflated', ['dcmconv', '+td']],
    ])('keeps %s pixel data as it is, fragments included', async (label, [tool, ...args]) => {
      const source = join(dir, `${label}-in.dcm`);
      const converted = join(dir, `${label}-conv.dcm`);
      await writeFile(source, makeDeidInstance().bytes);
      const conv = await dcmtk(tool!, [...args, source, converted]);
      expect(conv.code, conv.stderr).toBe(0);
      const input = await readFile(converted);
      const result = anonymize(input, { secret: SECRET });
      expect(result.header.transferSyntaxUid).toBe(parseHeader(input).transferSyntaxUid);
      const before = read(input).dict['7FE00010']!.Value!.map((f) => Buffer.from(f as ArrayBuffer));
      const after = read(result.bytes).dict['7FE00010']!.Value!.map((f) => Buffer.from(f as ArrayBuffer));
      expect(after).toEqual(before);
      const out = join(dir, `${label}-out.dcm`);
      await writeFile(out, result.bytes);
      const dump = await dcmtk('dcmdump', ['-q', out]);
      expect(dump.code).toBe(0);
      expect(dump.stdout).not.toContain(PATIENT_ID);
    });
  });
});
