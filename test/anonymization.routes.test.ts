/**
 * `/api/anonymization` and the image anonymization routes through app.request(), on real adapters.
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, basic, createTestApp, type TestApp } from './helpers/app.js';
import { makeInstance, newUid } from './fixtures/dicom-fixtures.js';
import { makeLinkedStudy } from './fixtures/deid-study.js';
import { attr, parseHeader } from '../src/dicom/header.js';
import { OPTION_NAMES } from '../src/anonymization/deid/profile.js';

let t: TestApp;
const AUTH = basic(ADMIN.user, ADMIN.password);
const USER = { user: 'reader', password: 'reader-password' };

beforeAll(async () => {
  t = await createTestApp();
  await t.users.create({ ...USER, role: 'USER' });
});
afterAll(async () => t?.cleanup());

/** Stores an instance as ingest would, and answers its image. */
async function store(bytes: Buffer) {
  const header = parseHeader(bytes);
  const path = join(t.dir, `${header.sopInstanceUid}.in`);
  await writeFile(path, bytes);
  await t.blobs.putFile(header.sopInstanceUid, path);
  return (
    await t.index.upsert({
      header,
      origin: { sourceType: 'user', sourceId: 1, sourceName: 'admin' },
      size: bytes.length,
    })
  ).image;
}

const api = (path: string, init: RequestInit & { json?: unknown } = {}) =>
  t.app.request(path, {
    ...init,
    headers: { ...AUTH, 'content-type': 'application/json', ...(init.headers ?? {}) },
    body: init.json === undefined ? init.body : JSON.stringify(init.json),
  });

const tagPath = (tag: number) => ({ tag, name: '' });
const PYDICOM_J2KI = '/usr/lib/python3/dist-packages/pydicom/data/test_files/693_J2KI.dcm';

describe('/api/anonymization', () => {
  it('lists every supported option with Slicebox fields', async () => {
    const r = await api('/api/anonymization/options');
    expect(r.status).toBe(200);
    const options = (await r.json()) as Array<{
      name: string;
      title: string;
      description: string;
      rank: number;
    }>;
    expect(options.map((o) => o.name)).toEqual(OPTION_NAMES.filter((o) => o !== 'BASIC_PROFILE'));
    expect(options[0]).toEqual({
      name: 'CLEAN_GRAPHICS',
      title: 'Clean Graphics',
      description: 'Clean Graphics Option',
      rank: 40,
    });
  });

  it('PUT /images/{id}/anonymize replaces the image with its anonymized version and records a key', async () => {
    const image = await store(makeInstance({ patientName: 'Route^Alice', patientId: 'RA1' }));
    const r = await api(`/api/images/${image.id}/anonymize`, {
      method: 'PUT',
      json: {
        profile: { options: [{ name: 'RETAIN_UIDS' }] },
        tagValues: [{ tagPath: tagPath(0x00100020), value: 'STUDY-SUBJ-1' }],
      },
    });
    expect(r.status).toBe(200);
    const anonymized = (await r.json()) as { id: number; sopInstanceUID: { value: string } };
    // Retain UIDs: same SOP instance, so the same image row, now anonymized.
    expect(anonymized.sopInstanceUID.value).toBe(image.sopInstanceUID.value);
    const stored = await (await api(`/api/images/${anonymized.id}`)).arrayBuffer();
    const header = parseHeader(Buffer.from(stored));
    expect(attr(header, 'PatientID')).toBe('STUDY-SUBJ-1');
    expect(attr(header, 'PatientIdentityRemoved')).toBe('YES');
    const patients = (await (await api('/api/metadata/patients')).json()) as Array<{
      patientID: { value: string };
    }>;
    expect(patients.map((p) => p.patientID.value)).toContain('STUDY-SUBJ-1');
    expect(patients.map((p) => p.patientID.value)).not.toContain('RA1');

    const keys = (await (await api('/api/anonymization/keys?filter=ra1')).json()) as Array<{
      id: number;
      imageId: number;
      anonPatientID: string;
    }>;
    expect(keys).toHaveLength(1);
    expect(keys[0]).toMatchObject({ imageId: image.id, anonPatientID: 'STUDY-SUBJ-1' });
    const values = (await (await api(`/api/anonymization/keys/${keys[0]!.id}/keyvalues`)).json()) as Array<{
      tagPath: { tag: number; name: string };
      value: string;
      anonymizedValue: string;
    }>;
    expect(values.find((v) => v.tagPath.name === 'PatientIdentityRemoved')).toMatchObject({
      tagPath: { tag: 0x00120062 },
      value: '',
      anonymizedValue: 'YES',
    });
  });

  it('PUT anonymize without Retain UIDs stores a new image and deletes the original', async () => {
    const image = await store(makeInstance({ patientId: 'RB1' }));
    const r = await api(`/api/images/${image.id}/anonymize`, { method: 'PUT', body: '' });
    expect(r.status).toBe(200);
    const created = (await r.json()) as { id: number; sopInstanceUID: { value: string } };
    expect(created.sopInstanceUID.value).not.toBe(image.sopInstanceUID.value);
    expect((await api(`/api/images/${image.id}`)).status).toBe(404);
    expect((await api(`/api/images/${created.id}`)).status).toBe(200);
    expect(await t.blobs.exists(image.sopInstanceUID.value)).toBe(false);
  });

  it('POST /images/{id}/anonymized answers anonymized bytes without storing them, and a USER may', async () => {
    const image = await store(makeInstance({ patientId: 'RC1' }));
    const r = await t.app.request(`/api/images/${image.id}/anonymized`, {
      method: 'POST',
      headers: basic(USER.user, USER.password),
    });
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('application/octet-stream');
    const header = parseHeader(Buffer.from(await r.arrayBuffer()));
    expect(attr(header, 'PatientID')).not.toBe('RC1');
    expect(await t.index.image(image.id)).toBeDefined();
    expect(await t.index.imageBySopInstanceUid(header.sopInstanceUid)).toBeUndefined();
    const keys = (await (await api('/api/anonymization/keys?filter=rc1')).json()) as unknown[];
    expect(keys).toHaveLength(1);
  });

  it('POST /anonymization/anonymize anonymizes a set of images in place', async () => {
    const patientId = 'RD1';
    const a = await store(makeInstance({ patientId }));
    const b = await store(makeInstance({ patientId }));
    const r = await api('/api/anonymization/anonymize', {
      method: 'POST',
      json: {
        profile: { options: [] },
        imageTagValuesSet: [
          { imageId: a.id, tagValues: [{ tagPath: { name: 'PatientName' }, value: 'Bulk^One' }] },
          { imageId: b.id, tagValues: [] },
        ],
      },
    });
    expect(r.status).toBe(200);
    const images = (await r.json()) as Array<{ id: number }>;
    expect(images).toHaveLength(2);
    // Harmonized: the second image takes the first one's pseudonym.
    const names = await Promise.all(
      images.map(async (i) =>
        attr(parseHeader(Buffer.from(await (await api(`/api/images/${i.id}`)).arrayBuffer())), 'PatientName'),
      ),
    );
    expect(names).toEqual(['Bulk^One', 'Bulk^One']);
  });

  it('answers 404 for unknown images and keys, 400 naming the field for bad input', async () => {
    expect((await api('/api/images/999999/anonymize', { method: 'PUT', json: {} })).status).toBe(404);
    expect((await api('/api/images/999999/anonymized', { method: 'POST', json: {} })).status).toBe(404);
    const bulk404 = await api('/api/anonymization/anonymize', {
      method: 'POST',
      json: { imageTagValuesSet: [{ imageId: 999999, tagValues: [] }] },
    });
    expect(bulk404.status).toBe(404);
    expect((await api('/api/anonymization/keys/999999')).status).toBe(404);
    expect((await api('/api/anonymization/keys/999999/keyvalues')).status).toBe(404);
    expect((await api('/api/anonymization/keys/999999', { method: 'DELETE' })).status).toBe(204);

    const image = await store(makeInstance());
    const bad = async (body: unknown, pattern: RegExp) => {
      const r = await api(`/api/images/${image.id}/anonymize`, { method: 'PUT', json: body });
      expect(r.status).toBe(400);
      expect(await r.text()).toMatch(pattern);
    };
    await bad({ profile: { options: [{ name: 'NOPE' }] } }, /profile.options: unknown option "NOPE"/);
    await bad({ profile: { options: [{ name: 'CLEAN_PIXEL_DATA' }] } }, /not supported/);
    await bad({ tagValues: [{ tagPath: { name: 'NoSuchKeyword' }, value: 'x' }] }, /tagValues\[0\].tagPath/);
    await bad(
      { tagValues: [{ tagPath: { tag: 0x00100010, previous: { tag: 0x00081140, item: '1' } }, value: 'x' }] },
      /tagValues\[0\].tagPath: only attributes of the root dataset/,
    );
    await bad({ tagValues: [{ tagPath: tagPath(0x00100010) }] }, /tagValues.0.value/);
    const malformed = await api(`/api/images/${image.id}/anonymize`, { method: 'PUT', body: '{' });
    expect(malformed.status).toBe(400);
    expect((await api('/api/anonymization/keys?orderby=nope')).status).toBe(400);
    expect(await (await api('/api/anonymization/keys?orderby=nope')).text()).toMatch(/orderby: "nope"/);
    expect((await api('/api/anonymization/keys?count=x')).status).toBe(400);
    const query = await api('/api/anonymization/keys/query', {
      method: 'POST',
      json: { queryProperties: [{ propertyName: 'patientID', operator: '<', propertyValue: 'x' }] },
    });
    expect(query.status).toBe(400);
    expect(await query.text()).toMatch(/queryProperties.0.operator/);
    // The image is untouched by the refused requests.
    expect(await t.index.image(image.id)).toBeDefined();
  });

  it('pages, orders, queries, deletes and exports keys', async () => {
    for (const id of ['KP1', 'KP2', 'KP3']) {
      const image = await store(
        makeInstance({ patientId: id, patientName: `Key^${id}`, sopInstanceUid: newUid() }),
      );
      expect((await api(`/api/images/${image.id}/anonymized`, { method: 'POST' })).status).toBe(200);
    }
    const page = (await (
      await api(
        '/api/anonymization/keys?filter=kp&orderby=patientID&orderascending=false&startindex=1&count=1',
      )
    ).json()) as Array<{ patientID: string }>;
    expect(page.map((k) => k.patientID)).toEqual(['KP2']);
    const queried = (await (
      await api('/api/anonymization/keys/query', {
        method: 'POST',
        json: {
          startIndex: 0,
          count: 10,
          order: { orderBy: 'patientName', orderAscending: true },
          queryProperties: [{ propertyName: 'patientName', operator: 'like', propertyValue: 'key^kp' }],
        },
      })
    ).json()) as Array<{ id: number; patientID: string }>;
    expect(queried.map((k) => k.patientID)).toEqual(['KP1', 'KP2', 'KP3']);

    const csv = await api('/api/anonymization/keys/export/csv');
    expect(csv.status).toBe(200);
    expect(csv.headers.get('content-disposition')).toBe(
      'attachment; filename=slicebox-anonymization-info.csv',
    );
    const lines = (await csv.text()).trim().split('\r\n');
    expect(lines[0]).toMatch(/^ID;Image ID;Created;Patient Name;Anonymous Patient Name;/);
    const kp1 = lines.filter((l) => l.includes(';KP1;'));
    expect(kp1).toHaveLength(9); // one row per key value
    expect(kp1.some((l) => l.includes(';(0012,0062);;YES'))).toBe(true);
    const forbidden = await t.app.request('/api/anonymization/keys/export/csv', {
      headers: basic(USER.user, USER.password),
    });
    expect(forbidden.status).toBe(403);

    expect((await api(`/api/anonymization/keys/${queried[0]!.id}`)).status).toBe(200);
    expect((await api(`/api/anonymization/keys/${queried[0]!.id}`, { method: 'DELETE' })).status).toBe(204);
    expect((await api(`/api/anonymization/keys/${queried[0]!.id}`)).status).toBe(404);
  });

  it.runIf(existsSync(PYDICOM_J2KI))(
    'POST /images/{id}/anonymized anonymizes an instance already de-identified elsewhere (693_J2KI.dcm)',
    async () => {
      const input = await readFile(PYDICOM_J2KI);
      const before = parseHeader(input);
      expect(attr(before, 'PatientIdentityRemoved')).toBe('YES');
      const image = await store(input);
      const r = await api(`/api/images/${image.id}/anonymized`, { method: 'POST' });
      expect(r.status).toBe(200);
      const out = Buffer.from(await r.arrayBuffer());
      expect(out.equals(input)).toBe(false);
      const after = parseHeader(out);
      expect(attr(after, 'PatientName')).not.toBe(attr(before, 'PatientName'));
      expect(attr(after, 'PatientID')).not.toBe(attr(before, 'PatientID'));
      for (const keyword of ['StudyInstanceUID', 'SeriesInstanceUID', 'SOPInstanceUID']) {
        expect(attr(after, keyword), keyword).not.toBe(attr(before, keyword));
        expect(out.includes(Buffer.from(attr(before, keyword), 'latin1')), keyword).toBe(false);
      }
      expect(attr(after, 'SeriesDescription')).toBe(''); // X: gone
      const codes = after.dataset['00120064']!.Value as Array<Record<string, { Value: string[] }>>;
      expect(codes.map((c) => c['00080100']!.Value[0])).toEqual(['113100']);

      // Stored anonymized with the same options by this installation: answered as it is.
      const put = await api(`/api/images/${image.id}/anonymize`, { method: 'PUT', body: '' });
      const stored = (await put.json()) as { id: number };
      const storedBytes = Buffer.from(await (await api(`/api/images/${stored.id}`)).arrayBuffer());
      const again = await api(`/api/images/${stored.id}/anonymized`, { method: 'POST' });
      expect(Buffer.from(await again.arrayBuffer()).equals(storedBytes)).toBe(true);
      // Other options: applied.
      const other = await api(`/api/images/${stored.id}/anonymized`, {
        method: 'POST',
        json: { profile: { options: [{ name: 'CLEAN_DESCRIPTORS' }] } },
      });
      const otherHeader = parseHeader(Buffer.from(await other.arrayBuffer()));
      expect(otherHeader.sopInstanceUid).not.toBe(parseHeader(storedBytes).sopInstanceUid);
    },
  );

  it.each([
    ['Retain UIDs, then Basic', ['RETAIN_UIDS'], []],
    ['Basic, then Retain UIDs', [], ['RETAIN_UIDS']],
  ] as Array<[string, string[], string[]]>)(
    'downloads of one study, %s: each as its options require',
    async (_label, firstOptions, thenOptions) => {
      const study = makeLinkedStudy({ images: 4, patientId: `DL-${firstOptions.length}` });
      const images = [];
      for (const f of study.files) images.push(await store(f));
      const download = async (id: number, options: string[]) => {
        const r = await api(`/api/images/${id}/anonymized`, {
          method: 'POST',
          json: { profile: { options: options.map((name) => ({ name })) } },
        });
        expect(r.status).toBe(200);
        return Buffer.from(await r.arrayBuffer());
      };
      // The first options on three of the four images; then the other options on all four.
      for (const image of images.slice(0, 3)) await download(image.id, firstOptions);
      for (const [i, image] of images.entries()) {
        const out = await download(image.id, thenOptions);
        const real = study.realUids.filter((u) => out.includes(Buffer.from(u, 'latin1')));
        const header = parseHeader(out);
        if (thenOptions.includes('RETAIN_UIDS')) {
          // Every reference consistent with the kept UIDs: all real, none anonymized.
          expect(header.sopInstanceUid).toBe(study.sopInstanceUids[i]);
          expect(attr(header, 'StudyInstanceUID')).toBe(study.studyInstanceUid);
          const own = [study.studyInstanceUid, study.frameOfReferenceUid, study.sopInstanceUids[i]!];
          for (const uid of own) expect(real).toContain(uid);
        } else expect(real).toEqual([]);
      }
    },
  );
});
