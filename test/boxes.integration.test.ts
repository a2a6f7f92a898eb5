/**
 * Two real engines on loopback (own ports, own data directories) paired through the API: a study each way
 * (A pushes to B; B queues for A, which polls), anonymized with the transaction's profile and tag values
 * by the real de-identification engine, the anonymized study sent back and re-identified on A, a tampered
 * token refused, and broken input ending FAILED with its reason instead of counted as sent.
 */
import { join } from 'node:path';
import { deflateRawSync, deflateSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestEngine, type TestEngine } from './helpers/engine.js';
import { eventually } from './helpers/eventually.js';
import {
  FAST_BOXES,
  imagesWithSeries,
  incoming,
  json,
  pair,
  post,
  send,
  transferEnded,
  uploadStudy,
  type BoxJson,
  type ImageJson,
} from './helpers/boxes.js';
import { makeInstance } from './fixtures/dicom-fixtures.js';
import { parseHeader, attr } from '../src/dicom/header.js';

let a: TestEngine;
let b: TestEngine;
let pollBox: BoxJson; // on B: the box A connects to
let pushBox: BoxJson; // on A: the box that pushes to and polls B

const PATIENT_ID = { tag: 0x00100020, name: 'PatientID' };

beforeAll(async () => {
  [a, b] = await Promise.all([
    startTestEngine({ boxes: FAST_BOXES }),
    startTestEngine({ boxes: FAST_BOXES }),
  ]);
  ({ pollBox, pushBox } = await pair(b, a, { server: 'hospital-b', client: 'hospital-a' }));
});
afterAll(async () => {
  await a?.cleanup();
  await b?.cleanup();
});

const storedHeader = async (engine: TestEngine, image: ImageJson) =>
  parseHeader(Buffer.from(await (await engine.api(`/api/images/${image.id}`)).arrayBuffer()));

/** Where the file-system blob store keeps an image (`<root>/<aa>/<key>.dcm`). */
/** Cuts the stored object of `image` to its first `bytes` bytes (on disk or in S3, through the engine's store). */
const truncateStored = async (engine: TestEngine, image: ImageJson, bytes: number) => {
  const { blobs } = engine.engine.services;
  const key = image.sopInstanceUID.value;
  const { stream } = await blobs.open(key);
  await blobs.putBytes(key, Buffer.concat((await stream.toArray()) as Buffer[]).subarray(0, bytes));
};

describe('boxes between two engines', () => {
  it('pairs: a POLL box on B with a token URL, a PUSH box on A that comes online', async () => {
    expect(pollBox.sendMethod).toBe('POLL');
    expect(pollBox.baseUrl).toBe(b.url(`/api/transactions/${pollBox.token}`));
    expect(pushBox.sendMethod).toBe('PUSH');
    expect(pushBox.token).toBe(pollBox.token);
    await eventually(async () => {
      const [onA] = await json<BoxJson[]>(a.api('/api/boxes'));
      const [onB] = await json<BoxJson[]>(b.api('/api/boxes'));
      expect(onA!.online).toBe(true);
      expect(onB!.online).toBe(true);
    });
    const sources = await json<Array<{ sourceType: string; sourceId: number }>>(b.api('/api/sources'));
    expect(sources).toContainEqual({ sourceType: 'box', sourceName: 'hospital-a', sourceId: pollBox.id });
    // Pairing again with the same name and URL answers the same boxes; another URL is refused.
    const again = await json<BoxJson>(
      a.api('/api/boxes/connect', {
        method: 'POST',
        body: JSON.stringify({ name: 'hospital-b', baseUrl: pollBox.baseUrl }),
      }),
      201,
    );
    expect(again.id).toBe(pushBox.id);
    const other = await a.api('/api/boxes/connect', {
      method: 'POST',
      body: JSON.stringify({
        name: 'hospital-b',
        baseUrl: pollBox.baseUrl.replace(/.$/, (c) => (c === '0' ? '1' : '0')),
      }),
    });
    expect(other.status).toBe(400);
  });

  it('refuses to connect with a token the remote does not know, and answers 401 to a tampered token', async () => {
    const forged = pollBox.baseUrl.replace(/[0-9a-f]{4}$/, (s) => (s === 'aaaa' ? 'bbbb' : 'aaaa'));
    const r = await a.api('/api/boxes/connect', {
      method: 'POST',
      body: JSON.stringify({ name: 'forged', baseUrl: forged }),
    });
    expect(r.status).toBe(400);
    expect(await r.text()).toMatch(/does not know this box token/);
    expect((await fetch(`${forged}/outgoing/poll?n=1`)).status).toBe(401);
    expect((await fetch(`${pollBox.baseUrl}/outgoing/poll?n=1`)).status).toBe(404);
  });

  it('pushes a 3-series study from A to B, anonymized with the profile and the tag values', async () => {
    const study = await uploadStudy(a, {
      series: 3,
      perSeries: 2,
      patientName: 'Alpha^Anna',
      patientId: 'ALPHA-1',
      extra: { InstitutionName: 'Hospital A' },
    });
    const outgoingId = await send(a, pushBox.id, study.imageIds, {
      tagValues: [{ tagPath: PATIENT_ID, value: 'STUDY-7' }],
    });
    const { out, in: inc } = await transferEnded(a, outgoingId, b, pollBox.id);
    expect(out).toMatchObject({ sentImageCount: 6, failedImageCount: 0, totalImageCount: 6 });
    expect(inc).toMatchObject({ receivedImageCount: 6, addedImageCount: 6, totalImageCount: 6 });

    const received = await json<ImageJson[]>(b.api(`/api/boxes/incoming/${inc.id}/images`));
    expect(received).toHaveLength(6);
    const onB = (await imagesWithSeries(b)).filter((i) => received.some((r) => r.id === i.id));
    expect(new Set(onB.map((i) => i.flat.series.seriesInstanceUID.value)).size).toBe(3);
    expect(new Set(onB.map((i) => i.flat.study.studyInstanceUID.value)).size).toBe(1);
    for (const image of onB) {
      expect(image.flat.patient.patientID.value).toBe('STUDY-7');
      expect(image.flat.patient.patientName.value).not.toContain('Alpha');
      expect(image.flat.study.studyInstanceUID.value).not.toBe(study.studyInstanceUid);
      expect(study.sops).not.toContain(image.sopInstanceUID.value);
      const header = await storedHeader(b, image);
      expect(attr(header, 'PatientIdentityRemoved')).toBe('YES');
      expect(attr(header, 'InstitutionName')).not.toContain('Hospital A');
    }
    const source = await json<{ sourceType: string; sourceId: number }>(
      b.api(`/api/metadata/series/${onB[0]!.seriesId}/source`),
    );
    expect(source).toMatchObject({ sourceType: 'box', sourceId: pollBox.id });
    const keys = await json<unknown[]>(a.api('/api/anonymization/keys?count=100'));
    expect(keys.length).toBeGreaterThanOrEqual(6);
  });

  it('lets A poll a 3-series study B queued for it, anonymized with B’s profile', async () => {
    const study = await uploadStudy(b, {
      series: 3,
      perSeries: 2,
      patientName: 'Beta^Bo',
      patientId: 'BETA-2',
    });
    const outgoingId = await send(b, pollBox.id, study.imageIds, {
      profile: ['RETAIN_LONGITUDINAL_TEMPORAL_INFORMATION'],
    });
    const { out, in: inc } = await transferEnded(b, outgoingId, a, pushBox.id);
    expect(out).toMatchObject({ sentImageCount: 6, totalImageCount: 6 });
    expect(inc).toMatchObject({ receivedImageCount: 6, addedImageCount: 6 });
    const received = await json<ImageJson[]>(a.api(`/api/boxes/incoming/${inc.id}/images`));
    const onA = (await imagesWithSeries(a)).filter((i) => received.some((r) => r.id === i.id));
    expect(onA).toHaveLength(6);
    expect(new Set(onA.map((i) => i.flat.series.seriesInstanceUID.value)).size).toBe(3);
    for (const image of onA) {
      expect(image.flat.patient.patientName.value).not.toContain('Beta');
      expect(image.flat.patient.patientID.value).not.toBe('BETA-2');
      const header = await storedHeader(a, image);
      expect(attr(header, 'PatientIdentityRemoved')).toBe('YES');
      expect(attr(header, 'StudyDate')).toBe('20260101'); // kept by RETAIN_LONGITUDINAL_…
    }
  });

  it('re-identifies on A the anonymized study B sends back', async () => {
    const original = await uploadStudy(a, {
      series: 3,
      perSeries: 1,
      patientName: 'Gamma^Gus',
      patientId: 'G-3',
    });
    const there = await send(a, pushBox.id, original.imageIds);
    const { in: onB } = await transferEnded(a, there, b, pollBox.id);
    const anonymized = await json<ImageJson[]>(b.api(`/api/boxes/incoming/${onB.id}/images`));
    expect(anonymized).toHaveLength(3);

    const back = await send(
      b,
      pollBox.id,
      anonymized.map((i) => i.id),
    );
    const { in: onA } = await transferEnded(b, back, a, pushBox.id);
    const returned = await json<ImageJson[]>(a.api(`/api/boxes/incoming/${onA.id}/images`));
    expect(returned.map((i) => i.sopInstanceUID.value).sort()).toEqual([...original.sops].sort());
    for (const image of (await imagesWithSeries(a)).filter((i) => returned.some((r) => r.id === i.id))) {
      expect(image.flat.patient.patientName.value).toBe('Gamma^Gus');
      expect(image.flat.patient.patientID.value).toBe('G-3');
      expect(image.flat.study.studyInstanceUID.value).toBe(original.studyInstanceUid);
    }
    // Overwritten in place: the returning instances are the originals, not copies.
    expect(onA.addedImageCount).toBe(0);
  });

  it('fails an image whose stored file is corrupt, with the reason, and sends the others', async () => {
    const study = await uploadStudy(a, { series: 1, perSeries: 3, patientName: 'Delta^Di' });
    const broken = await json<ImageJson>(a.api(`/api/metadata/images/${study.imageIds[1]}`));
    await truncateStored(a, broken, 2000);
    const outgoingId = await send(a, pushBox.id, study.imageIds);
    const { out, in: inc } = await transferEnded(a, outgoingId, b, pollBox.id, 'FAILED');
    expect(out).toMatchObject({ sentImageCount: 2, failedImageCount: 1, totalImageCount: 3 });
    expect(inc).toMatchObject({ receivedImageCount: 2 });
    const images = await json<Array<{ sequenceNumber: number; status: string; message: string | null }>>(
      a.api(`/api/boxes/outgoing/${outgoingId}/images?transfer=true`),
    );
    expect(images.map((i) => i.status)).toEqual(['SENT', 'FAILED', 'SENT']);
    expect(images[1]!.message).toMatch(/cannot be anonymized: Invalid DICOM data: .*truncated/);
  });

  it('answers 400 with the reason to a pushed file that is not DICOM, and counts it FAILED', async () => {
    const url = `${pollBox.baseUrl}/image?transactionid=9001&sequencenumber=1&totalimagecount=2`;
    const r = await fetch(url, { method: 'POST', body: deflateSync(Buffer.from('not a DICOM file at all')) });
    expect(r.status).toBe(400);
    expect(await r.text()).toMatch(/Invalid DICOM data/);
    const bad = await fetch(url.replace('sequencenumber=1', 'sequencenumber=2'), {
      method: 'POST',
      body: Buffer.from('not deflated'),
    });
    expect(bad.status).toBe(400);
    expect(await bad.text()).toMatch(/not valid deflate data/);
    const inc = await incoming(b, pollBox.id, 9001);
    expect(inc).toMatchObject({ status: 'FAILED', receivedImageCount: 0, failedImageCount: 2 });
    const quarantined = await json<unknown[]>(b.api('/api/quarantine'));
    expect(quarantined.length).toBeGreaterThanOrEqual(1);
  });

  it('runs received images through the tag filters associated with the box', async () => {
    const filter = await json<{ id: number }>(
      b.api(
        '/api/filtering/filters',
        post({ id: -1, name: 'no slice thickness', tagFilterType: 'BLACKLIST' }),
      ),
      201,
    );
    await json(
      b.api(
        `/api/filtering/filters/${filter.id}/tagpaths`,
        post({ id: -1, tagFilterId: filter.id, tagPath: { name: 'SliceThickness' } }),
      ),
      201,
    );
    await json(
      b.api(
        '/api/filtering/associations',
        post({
          id: -1,
          sourceType: 'box',
          sourceName: 'hospital-a',
          sourceId: pollBox.id,
          tagFilterId: filter.id,
        }),
      ),
      201,
    );
    const study = await uploadStudy(a, { series: 1, perSeries: 1, patientName: 'Zeta^Zo' });
    const id = await send(a, pushBox.id, study.imageIds);
    const { in: inc } = await transferEnded(a, id, b, pollBox.id);
    const [image] = await json<ImageJson[]>(b.api(`/api/boxes/incoming/${inc.id}/images`));
    const header = await storedHeader(b, image!);
    expect(attr(header, 'PatientIdentityRemoved')).toBe('YES');
    expect(attr(header, 'SliceThickness')).toBe('');
    const original = await json<ImageJson>(a.api(`/api/metadata/images/${study.imageIds[0]}`));
    expect(Number(attr(await storedHeader(a, original), 'SliceThickness'))).toBe(1);
  });

  it('takes a retried push of the same transaction and sequence number once', async () => {
    const file = makeInstance({ patientName: 'Epsilon^Eve' });
    const url = `${pollBox.baseUrl}/image?transactionid=9002&sequencenumber=1&totalimagecount=1`;
    // zlib (as Slicebox sends it) and raw deflate are both taken.
    for (const body of [deflateSync(file), deflateRawSync(file), deflateSync(file)])
      expect((await fetch(url, { method: 'POST', body })).status).toBe(204);
    const inc = await incoming(b, pollBox.id, 9002);
    expect(inc).toMatchObject({ status: 'FINISHED', receivedImageCount: 1, addedImageCount: 1 });
    const status = await json<{ status: string }>(fetch(`${pollBox.baseUrl}/status?transactionid=9002`));
    expect(status.status).toBe('FINISHED');
  });
});
