/**
 * Boxes as forwarding destinations, with two real engines on loopback: A has a PUSH box to B, and
 * forwarding rules on A send what arrives from a source to the box. The batch becomes one outgoing box
 * transaction anonymized with the box's default profile, arriving at B exactly once; with keepImages=false
 * A deletes its originals only after the box transaction has FINISHED (B is stopped until then).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startTestEngine, type TestEngine } from './helpers/engine.js';
import { eventually } from './helpers/eventually.js';
import {
  FAST_BOXES,
  imagesWithSeries,
  incoming,
  json,
  pair,
  post,
  transferEnded,
  uploadStudy,
  type BoxJson,
  type ImageJson,
  type OutgoingJson,
} from './helpers/boxes.js';
import { makeInstance, newUid } from './fixtures/dicom-fixtures.js';
import { attr, parseHeader } from '../src/dicom/header.js';

/** Quiet long enough that one upload burst makes one batch; quick retries. */
const FORWARDING = { quietMs: 300, batchMax: 500, concurrency: 2, retryBaseMs: 100, retryMaxMs: 400 };

let a: TestEngine;
let b: TestEngine;
let bPort: number;
let pollBox: BoxJson; // on B
let pushBox: BoxJson; // on A: the destination of the rules

beforeAll(async () => {
  bPort = await freePort();
  [a, b] = await Promise.all([
    startTestEngine({ boxes: FAST_BOXES, forwarding: FORWARDING }),
    startTestEngine({ boxes: FAST_BOXES, httpPort: bPort }),
  ]);
  ({ pollBox, pushBox } = await pair(b, a, { server: 'hospital-b', client: 'hospital-a' }, [
    'RETAIN_INSTITUTION_IDENTITY',
  ]));
});
afterAll(async () => {
  await a?.cleanup();
  await b?.cleanup();
});

interface Rule {
  id: number;
  source: { sourceType: string; sourceName: string; sourceId: number };
  destination: { destinationType: string; destinationName: string; destinationId: number };
  keepImages: boolean;
}
interface ForwardingTransactionJson {
  id: number;
  ruleId: number;
  status: string;
  destination: string;
  boxTransactionId: number | null;
  totalImageCount: number;
}

const rule = (source: { sourceType: string; sourceId: number }, boxId: number, keepImages: boolean) =>
  a.api(
    '/api/forwarding/rules',
    post({
      id: -1,
      source: { ...source, sourceName: '' },
      destination: { destinationType: 'box', destinationName: '', destinationId: boxId },
      keepImages,
    }),
  );

const outgoingOnA = () => json<OutgoingJson[]>(a.api('/api/boxes/outgoing?count=1000'));
const outbox = () => json<ForwardingTransactionJson[]>(a.api('/api/forwarding/transactions'));

describe('forwarding to a box', () => {
  it('lists the box among the destinations, after the SCUs', async () => {
    const scu = await json<{ id: number }>(
      a.api('/api/scus', post({ id: -1, name: 'pacs', aeTitle: 'PACS', host: '127.0.0.1', port: 1 })),
      201,
    );
    expect(await json(a.api('/api/destinations'))).toEqual([
      { destinationType: 'scu', destinationName: 'pacs', destinationId: scu.id },
      { destinationType: 'box', destinationName: 'hospital-b', destinationId: pushBox.id },
    ]);
  });

  it('refuses a rule to a box that does not exist, naming it', async () => {
    const r = await rule({ sourceType: 'user', sourceId: 1 }, 999, true);
    expect(r.status).toBe(400);
    expect(await r.text()).toMatch(/box 999 does not exist/);
  });

  it('sends uploads through the box, anonymized with its default profile, exactly once', async () => {
    const me = await json<{ id: number }>(a.api('/api/users/current'));
    const created = await json<Rule>(rule({ sourceType: 'user', sourceId: me.id }, pushBox.id, true), 201);
    expect(created.destination).toEqual({
      destinationType: 'box',
      destinationName: 'hospital-b',
      destinationId: pushBox.id,
    });
    const study = await uploadStudy(a, {
      series: 1,
      perSeries: 3,
      patientName: 'Alpha^Anna',
      patientId: 'ALPHA-1',
      extra: { InstitutionName: 'Hospital A' },
    });

    await eventually(async () => expect(await outbox()).toEqual([]));
    const [out] = await outgoingOnA();
    expect(await outgoingOnA()).toHaveLength(1);
    expect(out).toMatchObject({ boxId: pushBox.id, status: 'FINISHED', totalImageCount: 3 });
    const { in: inc } = await transferEnded(a, out!.id, b, pollBox.id);
    expect(inc).toMatchObject({ receivedImageCount: 3, addedImageCount: 3, failedImageCount: 0 });

    const received = await json<ImageJson[]>(b.api(`/api/boxes/incoming/${inc.id}/images`));
    const onB = await imagesWithSeries(b);
    expect(onB).toHaveLength(3);
    expect(onB.map((i) => i.id).sort()).toEqual(received.map((i) => i.id).sort());
    for (const image of onB) {
      expect(image.flat.patient.patientName.value).not.toContain('Alpha');
      expect(image.flat.patient.patientID.value).not.toBe('ALPHA-1');
      expect(study.sops).not.toContain(image.sopInstanceUID.value);
      const header = parseHeader(Buffer.from(await (await b.api(`/api/images/${image.id}`)).arrayBuffer()));
      expect(attr(header, 'PatientIdentityRemoved')).toBe('YES');
      // The box's default profile, not the Basic Profile alone: the institution is kept.
      expect(attr(header, 'InstitutionName')).toBe('Hospital A');
    }
    // keepImages: the originals stay on A.
    for (const id of study.imageIds) expect((await a.api(`/api/images/${id}`)).status).toBe(200);
    const log = await json<Array<{ message: string }>>(a.api('/api/log?subject=Forwarding&count=100'));
    expect(log.map((e) => e.message)).toContainEqual(
      expect.stringMatching(/3 instance\(s\) handed to box "hospital-b" as outgoing transaction \d+$/),
    );

    // Nothing more goes later.
    await new Promise((r) => setTimeout(r, 600));
    expect(await outgoingOnA()).toHaveLength(1);
    expect(await imagesWithSeries(b)).toHaveLength(3);
    expect((await a.api(`/api/forwarding/rules/${created.id}`, { method: 'DELETE' })).status).toBe(204);
  });

  it('keepImages=false: deletes the originals only once the box transaction has FINISHED', async () => {
    const session = await json<{ id: number }>(
      a.api('/api/import/sessions', post({ name: 'outbound' })),
      201,
    );
    await json<Rule>(rule({ sourceType: 'import', sourceId: session.id }, pushBox.id, false), 201);
    await b.stop();

    const ids: number[] = [];
    for (let i = 0; i < 2; i++) {
      const file = makeInstance({ patientName: 'Beta^Bo', sopInstanceUid: newUid() });
      ids.push(
        (
          await json<{ id: number }>(
            a.api(`/api/import/sessions/${session.id}/images`, { method: 'POST', body: file as BodyInit }),
            201,
          )
        ).id,
      );
    }
    // Handed to the box, which cannot reach B: the batch waits, and so do the originals.
    let batch: ForwardingTransactionJson | undefined;
    await eventually(async () => {
      [batch] = await outbox();
      expect(batch).toMatchObject({
        status: 'DELIVERING',
        destination: 'box "hospital-b"',
        totalImageCount: 2,
      });
      const images = await json<Array<{ status: string; message: string | null }>>(
        a.api(`/api/boxes/outgoing/${batch!.boxTransactionId}/images?transfer=true`),
      );
      expect(images.some((i) => /cannot reach/.test(i.message ?? ''))).toBe(true);
    });
    await new Promise((r) => setTimeout(r, 500));
    expect(await outbox()).toMatchObject([{ id: batch!.id, status: 'DELIVERING' }]);
    for (const id of ids) expect((await a.api(`/api/images/${id}`)).status).toBe(200);

    b = await startTestEngine({ dataDir: b.dataDir, httpPort: bPort, boxes: FAST_BOXES });
    const { out } = await transferEnded(a, batch!.boxTransactionId!, b, pollBox.id);
    expect(out).toMatchObject({ sentImageCount: 2, totalImageCount: 2 });
    await eventually(async () => {
      for (const id of ids) expect((await a.api(`/api/images/${id}`)).status).toBe(404);
    });
    expect(await outbox()).toEqual([]);
    const inc = await incoming(b, pollBox.id, out.id);
    expect(await json<ImageJson[]>(b.api(`/api/boxes/incoming/${inc.id}/images`))).toHaveLength(2);
  });

  it('deleting the box deletes the rules to it and from it', async () => {
    const me = await json<{ id: number }>(a.api('/api/users/current'));
    const [scu] = await json<Array<{ id: number }>>(a.api('/api/scus'));
    await json<Rule>(rule({ sourceType: 'user', sourceId: me.id }, pushBox.id, true), 201);
    const fromBox = await json<Rule>(
      a.api(
        '/api/forwarding/rules',
        post({
          id: -1,
          source: { sourceType: 'box', sourceName: '', sourceId: pushBox.id },
          destination: { destinationType: 'scu', destinationName: '', destinationId: scu!.id },
          keepImages: true,
        }),
      ),
      201,
    );
    expect(fromBox.source).toEqual({ sourceType: 'box', sourceName: 'hospital-b', sourceId: pushBox.id });
    const before = await json<Rule[]>(a.api('/api/forwarding/rules'));
    expect(
      before.filter((r) => r.destination.destinationType === 'box' || r.source.sourceType === 'box'),
    ).toHaveLength(3);

    expect((await a.api(`/api/boxes/${pushBox.id}`, { method: 'DELETE' })).status).toBe(204);
    const after = await json<Rule[]>(a.api('/api/forwarding/rules'));
    expect(
      after.filter((r) => r.destination.destinationType === 'box' || r.source.sourceType === 'box'),
    ).toEqual([]);
    expect(await json(a.api('/api/destinations'))).toEqual([
      { destinationType: 'scu', destinationName: 'pacs', destinationId: scu!.id },
    ]);
  });
});
