import { afterEach, describe, expect, it } from 'vitest';
import type { StateStore } from '../storage/state-store.js';
import type { KeyCandidate, KeyIdentifiers, KeyLookup, KeyMatch, NewAnonymizationKey } from './store.js';
import { stateEngine } from '../../test/helpers/state-engines.js';

// The anonymization keys part on SQLite (embedded project) and on PostgreSQL (scale project).
const engine = stateEngine();
let state: StateStore;
const others: StateStore[] = [];
afterEach(async () => {
  for (const other of others.splice(0)) await other.close().catch(() => undefined);
  await state?.close().catch(() => undefined);
});

const FIELDS = [
  'patientName',
  'patientID',
  'studyInstanceUID',
  'seriesInstanceUID',
  'sopInstanceUID',
] as const;
const real = (patientID: string, study: string, series: string, sop: string, name = 'Doe^Jane') => ({
  patientName: name,
  patientID,
  studyInstanceUID: `1.2.${study}`,
  seriesInstanceUID: `1.2.${series}`,
  sopInstanceUID: `1.2.${sop}`,
});

/** A new key for `ids`: anonymized identifiers `X-<real>`, two values, made at `created`. */
function newKey(
  ids: KeyIdentifiers,
  { created = 1000, profile = ['BASIC_PROFILE'], values = true } = {},
): NewAnonymizationKey {
  const anon = (f: (typeof FIELDS)[number]) => `X-${ids[f]}`;
  return {
    created,
    imageId: 2 ** 40 + created,
    ...ids,
    anonPatientName: anon('patientName'),
    anonPatientID: anon('patientID'),
    anonStudyInstanceUID: anon('studyInstanceUID'),
    anonSeriesInstanceUID: anon('seriesInstanceUID'),
    anonSOPInstanceUID: anon('sopInstanceUID'),
    profile,
    values: values
      ? [
          {
            tagPath: '(0008,0050)',
            level: 'STUDY',
            value: `ACC-${ids.studyInstanceUID}`,
            anonymizedValue: 'A1',
          },
          { tagPath: '(0010,0030)', level: 'PATIENT', value: '19700101', anonymizedValue: '' },
        ]
      : [],
  };
}

/** Records a key for `ids`, answering it with what its (last) decision saw: every candidate, loaded or not. */
async function record(
  ids: KeyIdentifiers,
  opts: Parameters<typeof newKey>[1] & {
    load?: (c: KeyCandidate, n: number) => boolean;
    on?: StateStore;
  } = {},
) {
  let saw: KeyCandidate[] = [];
  let loaded: KeyMatch[] = [];
  const recorded = await (opts.on ?? state).recordAnonymizationKey(ids, (earlier: KeyLookup) => {
    saw = [];
    loaded = [];
    for (const c of earlier.candidates()) {
      saw.push(c);
      if (opts.load?.(c, saw.length - 1)) loaded.push(earlier.load(c));
    }
    return newKey(ids, opts);
  });
  return { ...recorded, saw, loaded };
}

describe('recording anonymization keys', () => {
  it('answers the key and its values as stored, and keeps them across a restart', async () => {
    state = await engine.open();
    const { key, values, saw } = await record(real('P1', 's1', 'se1', 'i1'), {
      profile: ['BASIC_PROFILE', 'X'],
    });
    expect(saw).toEqual([]);
    expect(key).toEqual({
      id: 1,
      ...newKey(real('P1', 's1', 'se1', 'i1')),
      profile: undefined,
      values: undefined,
    });
    expect(Object.keys(key)).not.toContain('profile');
    expect(values).toEqual([
      {
        id: 1,
        anonymizationKeyId: 1,
        tagPath: '(0008,0050)',
        level: 'STUDY',
        value: 'ACC-1.2.s1',
        anonymizedValue: 'A1',
      },
      {
        id: 2,
        anonymizationKeyId: 1,
        tagPath: '(0010,0030)',
        level: 'PATIENT',
        value: '19700101',
        anonymizedValue: '',
      },
    ]);
    expect((await record(real('P1', 's1', 'se1', 'i2'), { values: false })).values).toEqual([]);
    await state.close();
    state = await engine.reopen(state);
    expect(await state.anonymizationKey(1)).toEqual(key);
    expect(await state.anonymizationKeyValues(1)).toEqual(values);
    expect(await state.anonymizationKey(3)).toBeUndefined();
  });

  it('offers the earlier keys of the same real patient, each once at its most specific level, newest first', async () => {
    state = await engine.open();
    const k1 = (await record(real('P1', 's1', 'se1', 'i1'))).key.id;
    const k2 = (await record(real('P1', 's1', 'se1', 'i2'), { profile: ['BASIC_PROFILE', 'RETAIN_UIDS'] }))
      .key.id;
    const k3 = (await record(real('P1', 's1', 'se2', 'i3'))).key.id;
    const k4 = (await record(real('P1', 's2', 'se3', 'i4'))).key.id;
    // Other patients: another ID, the same ID under another name, an ID that differs in case only.
    await record(real('P2', 's1', 'se1', 'i1'));
    await record(real('P1', 's1', 'se1', 'i1', 'Doe^John'));
    await record(real('p1', 's1', 'se1', 'i1'));

    const again = await record(real('P1', 's1', 'se1', 'i1'), { load: () => true });
    expect(again.saw).toEqual([
      { level: 'IMAGE', keyId: k1, profile: ['BASIC_PROFILE'] },
      { level: 'SERIES', keyId: k2, profile: ['BASIC_PROFILE', 'RETAIN_UIDS'] },
      { level: 'STUDY', keyId: k3, profile: ['BASIC_PROFILE'] },
      { level: 'PATIENT', keyId: k4, profile: ['BASIC_PROFILE'] },
    ]);
    expect(
      again.loaded.map((m) => [m.level, m.key.id, m.key.sopInstanceUID, m.values.length, m.profile]),
    ).toEqual([
      ['IMAGE', k1, '1.2.i1', 2, ['BASIC_PROFILE']],
      ['SERIES', k2, '1.2.i2', 2, ['BASIC_PROFILE', 'RETAIN_UIDS']],
      ['STUDY', k3, '1.2.i3', 2, ['BASIC_PROFILE']],
      ['PATIENT', k4, '1.2.i4', 2, ['BASIC_PROFILE']],
    ]);
    expect(again.loaded[0]!.key).toEqual(await state.anonymizationKey(k1));
    expect(again.loaded[0]!.values).toEqual(await state.anonymizationKeyValues(k1));

    // A new image of the first series: the key just recorded is the newest of the series.
    const next = await record(real('P1', 's1', 'se1', 'i9'));
    expect(next.saw.map((c) => [c.level, c.keyId])).toEqual([
      ['SERIES', again.key.id],
      ['SERIES', k2],
      ['SERIES', k1],
      ['STUDY', k3],
      ['PATIENT', k4],
    ]);
  });

  it('offers every candidate of a long history in order, and loads any of them', async () => {
    state = await engine.open();
    const n = 150;
    const made = await state.recordAnonymizationKeys(
      Array.from({ length: n }, (_, i) => {
        const ids = real('P1', 's1', i % 3 ? 'se1' : 'se2', `i${i}`);
        return { real: ids, decide: () => newKey(ids, { created: i }) };
      }),
    );
    const series = made.filter((m) => m.key.seriesInstanceUID === '1.2.se1').map((m) => m.key.id);
    const study = made.filter((m) => m.key.seriesInstanceUID === '1.2.se2').map((m) => m.key.id);
    const expected = [
      ...series.reverse().map((id) => ['SERIES', id]),
      ...study.reverse().map((id) => ['STUDY', id]),
    ];

    // Every one loaded, then every seventh, then none: the same candidates, the loaded ones right.
    for (const load of [() => true, (_: KeyCandidate, i: number) => i % 7 === 3, () => false]) {
      const { saw, loaded } = await record(real('P1', 's1', 'se1', `new-${Math.random()}`), { load });
      // (Leaving out the keys of the loop's earlier turns.)
      const earlier = saw.filter((c) => c.keyId <= made.at(-1)!.key.id);
      expect(earlier.map((c) => [c.level, c.keyId])).toEqual(expected);
      for (const match of loaded) {
        const { key, values } = made.find((m) => m.key.id === match.key.id)!;
        expect(match).toMatchObject({ key, values });
      }
      expect(loaded.length).toBe(saw.filter((c, i) => load(c, i)).length);
    }
  });

  it("stops where decide stops, and a decide that catches the store's errors still decides from every key it asked for", async () => {
    state = await engine.open();
    for (let i = 0; i < 40; i++) await record(real('P1', 's1', 'se1', `i${i}`));
    const ids = real('P1', 's1', 'se1', 'last');
    const firstOnly = await state.recordAnonymizationKey(ids, (earlier) => {
      for (const c of earlier.candidates()) return newKey(ids, { created: earlier.load(c).key.id });
      throw new Error('no candidate');
    });
    expect(firstOnly.key.created).toBe(40);

    const careless = await state.recordAnonymizationKey(ids, (earlier) => {
      let total = 0;
      try {
        for (const c of earlier.candidates()) total += earlier.load(c).values.length;
      } catch {
        total = -1;
      }
      return newKey(ids, { created: total });
    });
    expect(careless.key.created).toBe(41 * 2);
  });

  it('records nothing when decide throws', async () => {
    state = await engine.open();
    await record(real('P1', 's1', 'se1', 'i1'));
    await expect(
      state.recordAnonymizationKey(real('P1', 's1', 'se1', 'i2'), (earlier) => {
        for (const c of earlier.candidates()) earlier.load(c);
        throw new Error('cannot decide');
      }),
    ).rejects.toThrow('cannot decide');
    await expect(
      state.recordAnonymizationKeys([
        { real: real('P1', 's1', 'se1', 'i3'), decide: () => newKey(real('P1', 's1', 'se1', 'i3')) },
        {
          real: real('P2', 's1', 'se1', 'i3'),
          decide: () => {
            throw new Error('the second cannot');
          },
        },
      ]),
    ).rejects.toThrow('the second cannot');
    expect(
      (await state.listAnonymizationKeys({ startIndex: 0, count: 10 })).map((k) => k.sopInstanceUID),
    ).toEqual(['1.2.i1']);
  });

  it('records a batch in order, each key deciding from those before it in the batch', async () => {
    state = await engine.open();
    const batch = ['i1', 'i2', 'i3'].map((sop) => {
      const ids = real('P1', 's1', 'se1', sop);
      return {
        real: ids,
        decide: (earlier: KeyLookup) => newKey(ids, { created: [...earlier.candidates()].length }),
      };
    });
    const made = await state.recordAnonymizationKeys(batch);
    expect(made.map((m) => [m.key.sopInstanceUID, m.key.created])).toEqual([
      ['1.2.i1', 0],
      ['1.2.i2', 1],
      ['1.2.i3', 2],
    ]);
    expect(made.map((m) => m.values.map((v) => v.anonymizationKeyId))).toEqual(
      made.map((m) => [m.key.id, m.key.id]),
    );
    expect(await state.recordAnonymizationKeys([])).toEqual([]);
  });

  it('serializes the keys of one patient recorded at once through two stores, and batches in any order', async () => {
    state = await engine.open();
    const other = await engine.reopen(state);
    others.push(other);
    const made = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        record(real('P1', 's1', `se${i % 4}`, `i${i}`), { on: i % 2 ? other : state }),
      ),
    );
    // Each saw every key recorded before it: 0, 1, … 11 earlier keys.
    expect(made.map((m) => m.saw.length).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 12 }, (_, i) => i),
    );

    // Batches naming the same patients in opposite orders neither deadlock nor lose a key.
    const batch = (patients: string[], n: number) =>
      patients.map((p) => {
        const ids = real(p, 's9', 'se9', `b${n}-${p}`);
        return { real: ids, decide: () => newKey(ids) };
      });
    await Promise.all(
      Array.from({ length: 6 }, (_, n) =>
        (n % 2 ? other : state).recordAnonymizationKeys(batch(n % 2 ? ['A', 'B', 'C'] : ['C', 'B', 'A'], n)),
      ),
    );
    expect(
      await state.queryAnonymizationKeys({
        startIndex: 0,
        count: 100,
        queryProperties: [{ propertyName: 'studyInstanceUID', operator: '=', propertyValue: '1.2.s9' }],
      }),
    ).toHaveLength(18);
  });
});

describe('finding a key by anonymized identifiers', () => {
  it('answers the most specific level that matches, the newest key there, with its values and options', async () => {
    state = await engine.open();
    await record(real('P1', 's1', 'se1', 'i1'));
    const newer = await record(real('P1', 's1', 'se1', 'i1'), { profile: ['BASIC_PROFILE', 'RETAIN_UIDS'] });
    const series = await record(real('P1', 's1', 'se1', 'i2'));
    await record(real('P1', 's2', 'se2', 'i3'));
    const anon = (ids: KeyIdentifiers): KeyIdentifiers =>
      Object.fromEntries(FIELDS.map((f) => [f, `X-${ids[f]}`])) as unknown as KeyIdentifiers;

    expect(await state.findKeyByAnonymized(anon(real('P1', 's1', 'se1', 'i1')))).toEqual({
      level: 'IMAGE',
      key: newer.key,
      values: newer.values,
      profile: ['BASIC_PROFILE', 'RETAIN_UIDS'],
    });
    expect(await state.findKeyByAnonymized(anon(real('P1', 's1', 'se1', 'other')))).toMatchObject({
      level: 'SERIES',
      key: series.key,
    });
    const study = await state.findKeyByAnonymized(anon(real('P1', 's1', 'other', 'other')));
    expect([study?.level, study?.key.id]).toEqual(['STUDY', series.key.id]);
    expect((await state.findKeyByAnonymized(anon(real('P1', 'other', 'x', 'y'))))?.level).toBe('PATIENT');
    expect(await state.findKeyByAnonymized(anon(real('P9', 's1', 'se1', 'i1')))).toBeUndefined();
    // Real identifiers are not anonymized ones.
    expect(await state.findKeyByAnonymized(real('P1', 's1', 'se1', 'i1'))).toBeUndefined();
  });
});

describe('listing and querying keys', () => {
  // Patient IDs whose code point order differs from a dictionary's: upper case, then lower case, then é.
  const PATIENTS = ['b%4', 'AA1', 'é6', 'ab2', 'Zed\\5', 'B_3'];
  const setUp = async () => {
    state = await engine.open();
    for (const [i, p] of PATIENTS.entries())
      await record(real(p, `s${i}`, `se${i}`, `i${i}`), { created: 100 - i });
  };
  const list = async (opts: Partial<Parameters<StateStore['listAnonymizationKeys']>[0]>) =>
    (await state.listAnonymizationKeys({ startIndex: 0, count: 100, ...opts })).map((k) => k.patientID);
  const query = async (
    properties: Array<[string, '=' | 'like', string]>,
    order?: { orderBy: string; orderAscending: boolean },
  ) =>
    (
      await state.queryAnonymizationKeys({
        startIndex: 0,
        count: 100,
        order,
        queryProperties: properties.map(([propertyName, operator, propertyValue]) => ({
          propertyName,
          operator,
          propertyValue,
        })),
      })
    ).map((k) => k.patientID);

  it('filter by a prefix of any text column, whatever the case, wildcards taken literally', async () => {
    await setUp();
    expect(await list({})).toEqual(PATIENTS);
    expect(await list({ filter: 'a' })).toEqual(['AA1', 'ab2']);
    expect(await list({ filter: 'AB' })).toEqual(['ab2']);
    expect(await list({ filter: 'b_' })).toEqual(['B_3']);
    expect(await list({ filter: 'b%' })).toEqual(['b%4']);
    expect(await list({ filter: 'zed\\' })).toEqual(['Zed\\5']);
    expect(await list({ filter: '%' })).toEqual([]);
    expect(await list({ filter: '_' })).toEqual([]);
    expect(await list({ filter: 'ed' })).toEqual([]); // a prefix, not a part
    expect(await list({ filter: 'x-b' })).toEqual(['b%4', 'B_3']); // the anonymized ID
    expect(await list({ filter: '1.2.SE5' })).toEqual(['B_3']); // a UID
    expect(await list({ filter: 'doe^' })).toEqual(PATIENTS);
    expect(await list({ filter: "' OR 1=1 --" })).toEqual([]);
  });

  it('order by any column (text by code point), then by id, and page', async () => {
    await setUp();
    const byCodePoint = ['AA1', 'B_3', 'Zed\\5', 'ab2', 'b%4', 'é6'];
    expect(await list({ orderBy: 'patientID' })).toEqual(byCodePoint);
    expect(await list({ orderBy: 'patientID', orderAscending: false })).toEqual([...byCodePoint].reverse());
    expect(await list({ orderBy: 'patientID', orderAscending: false, startIndex: 1, count: 2 })).toEqual([
      'b%4',
      'ab2',
    ]);
    expect(await list({ orderBy: 'created' })).toEqual([...PATIENTS].reverse());
    expect(await list({ orderBy: 'id', orderAscending: false })).toEqual([...PATIENTS].reverse());
    // Equal names: by id.
    expect(await list({ orderBy: 'patientName', orderAscending: false })).toEqual(PATIENTS);
    expect(await list({ startIndex: 4, count: Number.MAX_SAFE_INTEGER })).toEqual(PATIENTS.slice(4));
    expect(await list({ filter: 'b', orderBy: 'patientID', count: 1 })).toEqual(['B_3']);
    await expect(list({ orderBy: 'profile' })).rejects.toThrow(/orderby: "profile" is not a column/);
    await expect(list({ orderBy: 'id; DROP TABLE AnonymizationKeys' })).rejects.toThrow(/is not a column/);
    expect(await list({})).toHaveLength(6);
  });

  it('query: = exactly, like as a part whatever the case (wildcards literal), all properties at once', async () => {
    await setUp();
    expect(await query([['patientID', '=', 'ab2']])).toEqual(['ab2']);
    expect(await query([['patientID', '=', 'AB2']])).toEqual([]);
    expect(await query([['patientID', 'like', 'B2']])).toEqual(['ab2']);
    expect(await query([['patientID', 'like', 'b']])).toEqual(['b%4', 'ab2', 'B_3']);
    expect(await query([['patientID', 'like', '_']])).toEqual(['B_3']);
    expect(await query([['patientID', 'like', '%']])).toEqual(['b%4']);
    expect(await query([['patientID', 'like', '\\']])).toEqual(['Zed\\5']);
    expect(await query([['anonStudyInstanceUID', 'like', 'x-1.2.s']])).toEqual(PATIENTS);
    expect(
      await query([
        ['patientID', 'like', 'b'],
        ['seriesInstanceUID', '=', '1.2.se0'],
      ]),
    ).toEqual(['b%4']);
    expect(await query([['imageId', '=', String(2 ** 40 + 99)]])).toEqual(['AA1']);
    expect(await query([['patientID', 'like', 'b']], { orderBy: 'patientID', orderAscending: true })).toEqual(
      ['B_3', 'ab2', 'b%4'],
    );
    expect(await query([], { orderBy: 'created', orderAscending: true })).toEqual([...PATIENTS].reverse());
    expect(
      (await state.queryAnonymizationKeys({ startIndex: 2, count: 2, queryProperties: [] })).map(
        (k) => k.patientID,
      ),
    ).toEqual(PATIENTS.slice(2, 4));
    await expect(query([['nope', '=', 'x']])).rejects.toThrow(/queryProperties\[0\].propertyName: "nope"/);
    await expect(query([], { orderBy: 'nope', orderAscending: true })).rejects.toThrow(
      /order.orderBy: "nope"/,
    );
  });
});

describe('the CSV export and deleting keys', () => {
  it('pages whole keys with their values (a key without values once), and deleting a key takes its values', async () => {
    state = await engine.open();
    const a = await record(real('P1', 's1', 'se1', 'i1'));
    const b = await record(real('P1', 's1', 'se1', 'i2'), { values: false });
    const c = await record(real('P1', 's1', 'se1', 'i3'));
    const rows = await state.anonymizationKeyRows(0, 10);
    expect(rows.map((r) => [r.id, r.tagPath, r.value, r.anonymizedValue])).toEqual([
      [a.key.id, '(0008,0050)', 'ACC-1.2.s1', 'A1'],
      [a.key.id, '(0010,0030)', '19700101', ''],
      [b.key.id, '', '', ''],
      [c.key.id, '(0008,0050)', 'ACC-1.2.s1', 'A1'],
      [c.key.id, '(0010,0030)', '19700101', ''],
    ]);
    expect(rows[2]).toEqual({ ...b.key, tagPath: '', value: '', anonymizedValue: '' });
    expect((await state.anonymizationKeyRows(a.key.id, 1)).map((r) => r.id)).toEqual([b.key.id]);
    expect((await state.anonymizationKeyRows(b.key.id, 5)).map((r) => r.id)).toEqual([c.key.id, c.key.id]);
    expect(await state.anonymizationKeyRows(c.key.id, 5)).toEqual([]);

    expect(await state.deleteAnonymizationKey(a.key.id)).toBe(true);
    expect(await state.deleteAnonymizationKey(a.key.id)).toBe(false);
    expect(await state.anonymizationKey(a.key.id)).toBeUndefined();
    expect(await state.anonymizationKeyValues(a.key.id)).toEqual([]);
    expect((await state.anonymizationKeyRows(0, 10)).map((r) => r.id)).toEqual([
      b.key.id,
      c.key.id,
      c.key.id,
    ]);
    // A deleted key is no candidate any more.
    expect((await record(real('P1', 's1', 'se1', 'i1'))).saw.map((c) => c.keyId)).toEqual([
      c.key.id,
      b.key.id,
    ]);
  });
});
