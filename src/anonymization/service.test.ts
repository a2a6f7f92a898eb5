import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import dcmjs from 'dcmjs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSqliteState } from '../storage/sqlite-state.js';
import { makeInstance, newUid } from '../../test/fixtures/dicom-fixtures.js';
import { makeLinkedStudy } from '../../test/fixtures/deid-study.js';
import { AnonymizationService, keyIdentifiers } from './service.js';
import { attr, parseHeader } from '../dicom/header.js';
import { mapUid } from './deid/derive.js';
import type { StateStore } from '../storage/state-store.js';
import type { KeyLookup } from './store.js';

let dir: string;
let state: StateStore;
let service: AnonymizationService;
const SECRET = Buffer.alloc(32, 3);

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-keys-'));
  state = openSqliteState(join(dir, 'state.sqlite'));
  service = new AnonymizationService(SECRET, state);
});
afterEach(async () => {
  await state.close();
  await rm(dir, { recursive: true, force: true });
});

const study = (patientId: string, n: number, extra: Record<string, unknown> = {}) => {
  const studyInstanceUid = newUid();
  const seriesInstanceUid = newUid();
  return Array.from({ length: n }, (_, i) =>
    makeInstance({
      patientName: 'Doe^Jane',
      patientId,
      studyInstanceUid,
      seriesInstanceUid,
      instanceNumber: i + 1,
      extra: { AccessionNumber: `ACC-${patientId}`, ...extra },
    }),
  );
};

describe('anonymization keys', () => {
  it('records one key per image with real and anonymized identifiers and the key attributes', async () => {
    const [file] = study('P1', 1);
    const result = await service.anonymize(file!, {});
    const key = result.key!;
    const real = keyIdentifiers(parseHeader(file!));
    expect(key).toMatchObject({
      imageId: -1,
      patientName: 'Doe^Jane',
      patientID: 'P1',
      studyInstanceUID: real.studyInstanceUID,
      sopInstanceUID: real.sopInstanceUID,
      anonPatientID: attr(result.header, 'PatientID'),
      anonSOPInstanceUID: result.header.sopInstanceUid,
    });
    const values = await state.anonymizationKeyValues(key.id);
    expect(values.find((v) => v.tagPath === '(0008,0050)')).toMatchObject({
      level: 'STUDY',
      value: 'ACC-P1',
      anonymizedValue: '',
    });
    expect(values.find((v) => v.tagPath === '(0012,0062)')).toMatchObject({
      value: '',
      anonymizedValue: 'YES',
    });
  });

  it('harmonizes: later images of the patient, study and series take the pseudonyms of the first key', async () => {
    const files = study('P2', 9);
    // The first image gets custom values, as a user sending to a box would give them.
    const first = await service.anonymize(files[0]!, {
      tagValues: [
        { tag: 0x00100010, value: 'Trial^Subject 7' },
        { tag: 0x00100020, value: 'SUBJ7' },
        { tag: 0x00080050, value: 'TRIAL-ACC-1' },
      ],
    });
    expect(attr(first.header, 'PatientID')).toBe('SUBJ7');
    // Eight more, started together.
    const rest = await Promise.all(
      files
        .slice(1)
        .map(
          (f) =>
            new Promise<Awaited<ReturnType<typeof service.anonymize>>>((r) =>
              setImmediate(() => r(service.anonymize(f, {}))),
            ),
        ),
    );
    for (const r of rest) {
      expect(attr(r.header, 'PatientName')).toBe('Trial^Subject 7');
      expect(attr(r.header, 'PatientID')).toBe('SUBJ7');
      expect(attr(r.header, 'AccessionNumber')).toBe('TRIAL-ACC-1');
      expect(attr(r.header, 'StudyInstanceUID')).toBe(attr(first.header, 'StudyInstanceUID'));
    }
    const keys = await state.listAnonymizationKeys({ startIndex: 0, count: 100 });
    expect(keys).toHaveLength(9);
    expect(new Set(keys.map((k) => k.anonPatientID))).toEqual(new Set(['SUBJ7']));
    expect(new Set(keys.map((k) => k.anonSOPInstanceUID)).size).toBe(9);

    // Another study of the same patient: the patient's pseudonym, not the study's accession number.
    const [other] = study('P2', 1, { AccessionNumber: 'ACC-OTHER' });
    const r = await service.anonymize(other!, {});
    expect(attr(r.header, 'PatientID')).toBe('SUBJ7');
    expect(attr(r.header, 'AccessionNumber')).toBe('');
  });

  it('commits the keys of instances anonymized at the same moment together, harmonized in order', async () => {
    const files = study('P6', 8);
    const first = await service.anonymize(files[0]!, { tagValues: [{ tag: 0x00100020, value: 'SUBJ-6' }] });
    const rest = await Promise.all(files.slice(1).map((f) => service.anonymizeBatched(f, {})));
    for (const r of rest) {
      expect(attr(r.header, 'PatientID')).toBe('SUBJ-6');
      expect(attr(r.header, 'StudyInstanceUID')).toBe(attr(first.header, 'StudyInstanceUID'));
      expect(r.key!.anonPatientID).toBe('SUBJ-6');
    }
    expect(new Set(rest.map((r) => r.key!.id)).size).toBe(7);
    const keys = await state.listAnonymizationKeys({ startIndex: 0, count: 100, filter: 'p6' });
    expect(keys).toHaveLength(8);
  });

  it('harmonizes from the newest key of the series, whatever the number of earlier keys', async () => {
    // The study's images have no FrameOfReferenceUID (nor a protocol name): nothing to harmonize for them,
    // which once walked every earlier key of the patient for each image.
    let loads = 0;
    const counting = new Proxy(state, {
      get(target, property) {
        if (property === 'recordAnonymizationKey')
          return (real: never, decide: (l: KeyLookup) => never) =>
            target.recordAnonymizationKey(real, (lookup) =>
              decide({
                candidates: () => lookup.candidates(),
                load: (candidate) => (loads++, lookup.load(candidate)),
              }),
            );
        const value = Reflect.get(target, property) as unknown;
        return typeof value === 'function' ? (value as () => unknown).bind(target) : value;
      },
    });
    const counted = new AnonymizationService(SECRET, counting);
    const files = study('P8', 40);
    const perImage: number[] = [];
    for (const file of files) {
      const before = loads;
      await counted.anonymize(file, {});
      perImage.push(loads - before);
    }
    expect(perImage[0]).toBe(0);
    expect(Math.max(...perImage.slice(1))).toBeLessThanOrEqual(2);
  });

  it('keeps two frames of reference of one study apart', async () => {
    const studyInstanceUid = newUid();
    const frames = [newUid(), newUid()];
    const out: Awaited<ReturnType<typeof service.anonymize>>[] = [];
    for (const frame of frames)
      out.push(
        await service.anonymize(
          makeInstance({ patientId: 'P5', studyInstanceUid, extra: { FrameOfReferenceUID: frame } }),
          {},
        ),
      );
    expect(out.map((r) => attr(r.header, 'FrameOfReferenceUID'))).toEqual(
      frames.map((f) => mapUid(SECRET, f)),
    );
    expect(attr(out[1]!.header, 'StudyInstanceUID')).toBe(attr(out[0]!.header, 'StudyInstanceUID'));
  });

  it('gives the same image its old SOP Instance UID when sent again, even under a custom value', async () => {
    const [file] = study('P3', 1);
    const custom = newUid();
    const first = await service.anonymize(file!, { tagValues: [{ tag: 0x00080018, value: custom }] });
    expect(first.header.sopInstanceUid).toBe(custom);
    const again = await service.anonymize(file!, {});
    expect(again.header.sopInstanceUid).toBe(custom);
  });

  it('reverses: an anonymized image coming back gets its real identity, at the level its key matched', async () => {
    const files = study('P4', 2);
    const anonymized = await service.anonymize(files[0]!, {});
    const back = (await service.reverse(anonymized.bytes))!;
    expect(back.level).toBe('IMAGE');
    expect(back.header.dataset).toEqual(parseHeader(back.bytes).dataset);
    const real = parseHeader(files[0]!);
    expect(keyIdentifiers(back.header)).toEqual(keyIdentifiers(real));
    expect(attr(back.header, 'AccessionNumber')).toBe('ACC-P4');
    expect(attr(back.header, 'PatientIdentityRemoved')).toBe('');
    expect(back.header.meta['00020003']!.Value![0]).toBe(real.sopInstanceUid);

    // A new image made in the anonymous study (a segmentation, say): patient and study come back.
    const derived = makeInstance({
      patientName: attr(anonymized.header, 'PatientName'),
      patientId: attr(anonymized.header, 'PatientID'),
      studyInstanceUid: attr(anonymized.header, 'StudyInstanceUID'),
      extra: { PatientIdentityRemoved: 'YES' },
    });
    const reversed = (await service.reverse(derived))!;
    expect(reversed.level).toBe('STUDY');
    expect(attr(reversed.header, 'PatientID')).toBe('P4');
    expect(attr(reversed.header, 'StudyInstanceUID')).toBe(real.dataset['0020000D']!.Value![0]);
    expect(reversed.header.sopInstanceUid).toBe(parseHeader(derived).sopInstanceUid);

    // Not de-identified, or no key: nothing to do.
    expect(await service.reverse(files[1]!)).toBeUndefined();
    expect(await service.reverse(makeInstance({ extra: { PatientIdentityRemoved: 'YES' } }))).toBeUndefined();
  });

  it('lists, filters (prefix), orders, queries and deletes keys; names bad columns', async () => {
    for (const id of ['AA1', 'AB2', 'BB3']) await service.anonymize(study(id, 1)[0]!, {});
    const filtered = async (filter: string) =>
      (await state.listAnonymizationKeys({ startIndex: 0, count: 10, filter })).map((k) => k.patientID);
    expect(await filtered('b')).toEqual(['BB3']);
    expect(await filtered('aa')).toEqual(['AA1']);
    expect(await filtered('a%')).toEqual([]);
    expect(await filtered('anon')).toHaveLength(3);
    expect(
      (
        await state.listAnonymizationKeys({
          startIndex: 1,
          count: 1,
          orderBy: 'patientID',
          orderAscending: false,
        })
      )[0]!.patientID,
    ).toBe('AB2');
    await expect(
      state.listAnonymizationKeys({ startIndex: 0, count: 1, orderBy: 'id; DROP TABLE x' }),
    ).rejects.toThrow(/orderby: "id; DROP TABLE x" is not a column/);
    expect(
      (
        await state.queryAnonymizationKeys({
          startIndex: 0,
          count: 10,
          queryProperties: [{ propertyName: 'patientID', operator: 'like', propertyValue: 'b3' }],
        })
      ).map((k) => k.patientID),
    ).toEqual(['BB3']);
    await expect(
      state.queryAnonymizationKeys({
        startIndex: 0,
        count: 10,
        queryProperties: [{ propertyName: 'nope', operator: '=', propertyValue: 'x' }],
      }),
    ).rejects.toThrow(/queryProperties\[0\].propertyName/);
    const key = (await state.listAnonymizationKeys({ startIndex: 0, count: 1 }))[0]!;
    expect((await state.anonymizationKeyRows(0, 10)).filter((r) => r.id === key.id)).toHaveLength(9);
    // Export pages hold whole keys: one key per page here, each with its nine values.
    const firstPage = await state.anonymizationKeyRows(0, 1);
    expect(new Set(firstPage.map((r) => r.id))).toEqual(new Set([key.id]));
    expect(firstPage).toHaveLength(9);
    expect(new Set((await state.anonymizationKeyRows(key.id, 1)).map((r) => r.id)).size).toBe(1);
    expect(await state.anonymizationKeyRows(key.id + 2, 1)).toEqual([]);
    expect(await state.deleteAnonymizationKey(key.id)).toBe(true);
    expect(await state.anonymizationKeyValues(key.id)).toEqual([]);
    expect(await state.deleteAnonymizationKey(key.id)).toBe(false);
  });
});

/** Every UI value of a file, nested ones too, by tag (file meta included). */
function uidValues(bytes: Buffer): Array<{ tag: string; value: string }> {
  const ab = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length) as ArrayBuffer;
  const { meta, dict } = dcmjs.data.DicomMessage.readFile(ab) as {
    meta: Record<string, { vr: string; Value?: unknown[] }>;
    dict: Record<string, { vr: string; Value?: unknown[] }>;
  };
  const out: Array<{ tag: string; value: string }> = [];
  const visit = (d: Record<string, { vr: string; Value?: unknown[] }>) => {
    for (const [tag, el] of Object.entries(d)) {
      if (el.vr === 'SQ') for (const item of el.Value ?? []) visit(item as never);
      else if (el.vr === 'UI') for (const v of el.Value ?? []) out.push({ tag, value: String(v) });
    }
  };
  visit(meta);
  visit(dict);
  return out;
}

/** The real UIDs of the study that survive in a file, parsed or as raw bytes. */
const realUidsIn = (bytes: Buffer, realUids: readonly string[]) => {
  const parsed = new Set(uidValues(bytes).map((u) => u.value));
  return realUids.filter((u) => parsed.has(u) || bytes.includes(Buffer.from(u, 'latin1')));
};

describe('keys made under different options do not feed each other', () => {
  const BASIC: string[] = [];
  const RETAIN = ['RETAIN_UIDS'];

  it('Retain UIDs, then the Basic Profile: no real UID survives, on the same images nor on others of the study', async () => {
    const study = makeLinkedStudy({ images: 5 });
    const [unseen, ...files] = study.files;
    const retained: Awaited<ReturnType<typeof service.anonymize>>[] = [];
    for (const f of files) retained.push(await service.anonymize(f, { options: RETAIN }));
    for (const r of retained) expect(realUidsIn(r.bytes, study.realUids).length).toBeGreaterThan(0);
    for (const bytes of [...files, unseen!]) {
      const basic = await service.anonymize(bytes, { options: BASIC });
      expect(realUidsIn(basic.bytes, study.realUids)).toEqual([]);
      expect(attr(basic.header, 'StudyInstanceUID')).toBe(mapUid(SECRET, study.studyInstanceUid));
      expect(attr(basic.header, 'FrameOfReferenceUID')).toBe(mapUid(SECRET, study.frameOfReferenceUid));
      // One patient, one pseudonym, whatever the options.
      expect(attr(basic.header, 'PatientID')).toBe(attr(retained[0]!.header, 'PatientID'));
    }
  });

  it('the Basic Profile, then Retain UIDs, then the Basic Profile: kept UIDs stay consistent, replaced ones the same', async () => {
    const study = makeLinkedStudy({ images: 4 });
    const first: Awaited<ReturnType<typeof service.anonymize>>[] = [];
    for (const f of study.files) first.push(await service.anonymize(f, { options: BASIC }));
    const retained: Awaited<ReturnType<typeof service.anonymize>>[] = [];
    for (const f of study.files) retained.push(await service.anonymize(f, { options: RETAIN }));
    const again: Awaited<ReturnType<typeof service.anonymize>>[] = [];
    for (const f of study.files) again.push(await service.anonymize(f, { options: BASIC }));
    study.files.forEach((input, i) => {
      // Retain UIDs: every UID of the output is the one of the input at the same place: no anonymized UID
      // at the root contradicts a real one in a reference.
      const before = uidValues(input).filter((u) => !u.tag.startsWith('0002'));
      const after = uidValues(retained[i]!.bytes).filter(
        (u) => !u.tag.startsWith('0002') && u.tag !== '00120064',
      );
      expect(after).toEqual(before.filter((u) => after.some((a) => a.tag === u.tag)));
      expect(retained[i]!.header.sopInstanceUid).toBe(study.sopInstanceUids[i]);
      expect(realUidsIn(first[i]!.bytes, study.realUids)).toEqual([]);
      expect(realUidsIn(again[i]!.bytes, study.realUids)).toEqual([]);
      expect(uidValues(again[i]!.bytes)).toEqual(uidValues(first[i]!.bytes));
    });
  });

  it('harmonized UIDs apply to references too: a study UID set by the user reaches every image and reference', async () => {
    const study = makeLinkedStudy({ images: 3 });
    const custom = newUid();
    const [head, ...rest] = study.files;
    const first = await service.anonymize(head!, { tagValues: [{ tag: 0x0020000d, value: custom }] });
    const all = [first];
    for (const f of rest) all.push(await service.anonymize(f, {}));
    for (const r of all) {
      expect(attr(r.header, 'StudyInstanceUID')).toBe(custom);
      const nested = uidValues(r.bytes)
        .filter((u) => u.tag === '0020000D')
        .map((u) => u.value);
      expect(nested.length).toBeGreaterThan(1);
      expect(new Set(nested)).toEqual(new Set([custom]));
      expect(realUidsIn(r.bytes, study.realUids)).toEqual([]);
    }
  });

  it('a key store from before keys kept their options learns them from the recorded method', async () => {
    const study = makeLinkedStudy({ images: 2 });
    await service.anonymize(study.files[0]!, { options: RETAIN });
    await state.close();
    // As the previous schema had it: no profile column.
    const db = new Database(join(dir, 'state.sqlite'));
    db.exec('ALTER TABLE AnonymizationKeys DROP COLUMN profile');
    db.pragma('user_version = 2');
    db.close();
    state = openSqliteState(join(dir, 'state.sqlite'));
    service = new AnonymizationService(SECRET, state);
    const basic = await service.anonymize(study.files[0]!, {});
    expect(realUidsIn(basic.bytes, study.realUids)).toEqual([]);
    const profiles = new Database(join(dir, 'state.sqlite'), { readonly: true });
    try {
      expect(profiles.prepare('SELECT profile FROM AnonymizationKeys ORDER BY id').pluck().all()).toEqual([
        'BASIC_PROFILE,RETAIN_UIDS',
        'BASIC_PROFILE',
      ]);
    } finally {
      profiles.close();
    }
  });
});
