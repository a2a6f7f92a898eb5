/** Helpers for box tests: pairing two engines and following transactions through the API. */
import { expect } from 'vitest';
import { makeInstance, newUid, type InstanceSpec } from '../fixtures/dicom-fixtures.js';
import { eventually } from './eventually.js';

/** What the helpers need of an engine: its API, authenticated as the superuser. */
export interface Api {
  api: (path: string, init?: RequestInit) => Promise<Response>;
}

export interface BoxJson {
  id: number;
  name: string;
  token: string;
  baseUrl: string;
  sendMethod: 'PUSH' | 'POLL';
  online: boolean;
}
export interface OutgoingJson {
  id: number;
  boxId: number;
  status: string;
  sentImageCount: number;
  failedImageCount: number;
  totalImageCount: number;
}
export interface IncomingJson {
  id: number;
  boxId: number;
  outgoingTransactionId: number;
  status: string;
  receivedImageCount: number;
  addedImageCount: number;
  failedImageCount: number;
  totalImageCount: number;
}

/** Timings that keep tests fast (the defaults are for production: seconds, not milliseconds). */
export const FAST_BOXES = {
  pollIntervalMs: 100,
  retryBaseMs: 50,
  retryMaxMs: 400,
  onlineWindowMs: 10_000,
  requestTimeoutMs: 15_000,
};

export async function json<T>(r: Response | Promise<Response>, status = 200): Promise<T> {
  const res = await r;
  const text = await res.text();
  expect(res.status, text).toBe(status);
  return JSON.parse(text) as T;
}

export const post = (body: unknown): RequestInit => ({ method: 'POST', body: JSON.stringify(body) });

/**
 * Pairs `server` (a POLL box named after the client) and `client` (a PUSH box to it); answers both boxes.
 */
export async function pair(
  server: Api,
  client: Api,
  names: { server: string; client: string },
  profile: string[] = [],
): Promise<{ pollBox: BoxJson; pushBox: BoxJson }> {
  const defaultProfile = { options: profile.map((name) => ({ name })) };
  const pollBox = await json<BoxJson>(
    server.api('/api/boxes/createconnection', post({ name: names.client, defaultProfile })),
    201,
  );
  const pushBox = await json<BoxJson>(
    client.api('/api/boxes/connect', post({ name: names.server, baseUrl: pollBox.baseUrl, defaultProfile })),
    201,
  );
  return { pollBox, pushBox };
}

/** Uploads one study of `series` × `perSeries` instances; answers the image ids and SOP UIDs. */
export async function uploadStudy(
  engine: Api,
  spec: InstanceSpec & { series: number; perSeries: number },
): Promise<{ imageIds: number[]; sops: string[]; studyInstanceUid: string }> {
  const studyInstanceUid = spec.studyInstanceUid ?? newUid();
  const imageIds: number[] = [];
  const sops: string[] = [];
  for (let s = 0; s < spec.series; s++) {
    const seriesInstanceUid = newUid();
    for (let i = 0; i < spec.perSeries; i++) {
      const sop = newUid();
      const file = makeInstance({
        ...spec,
        studyInstanceUid,
        seriesInstanceUid,
        sopInstanceUid: sop,
        instanceNumber: i + 1,
        seriesDescription: `Series ${s + 1}`,
      });
      const image = await json<{ id: number }>(
        engine.api('/api/images', { method: 'POST', body: file as BodyInit }),
        201,
      );
      imageIds.push(image.id);
      sops.push(sop);
    }
  }
  return { imageIds, sops, studyInstanceUid };
}

/** Sends images to a box; answers the outgoing transaction id. */
export async function send(
  engine: Api,
  boxId: number,
  imageIds: number[],
  options: { profile?: string[]; tagValues?: Array<{ tagPath: unknown; value: string }> } = {},
): Promise<number> {
  const r = await engine.api(
    `/api/boxes/${boxId}/send`,
    post({
      profile: { options: (options.profile ?? []).map((name) => ({ name })) },
      imageTagValuesSet: imageIds.map((imageId) => ({ imageId, tagValues: options.tagValues ?? [] })),
    }),
  );
  expect(r.status, await r.clone().text()).toBe(204);
  return Number(r.headers.get('x-sluice-transaction-id'));
}

export async function outgoing(engine: Api, id: number): Promise<OutgoingJson> {
  const all = await json<OutgoingJson[]>(engine.api('/api/boxes/outgoing?count=1000'));
  const t = all.find((x) => x.id === id);
  if (!t) throw new Error(`no outgoing transaction ${id}`);
  return t;
}

/** The incoming transaction of a box for the sender's outgoing transaction id. */
export async function incoming(engine: Api, boxId: number, outgoingId: number): Promise<IncomingJson> {
  const all = await json<IncomingJson[]>(engine.api('/api/boxes/incoming?count=1000'));
  const t = all.find((x) => x.boxId === boxId && x.outgoingTransactionId === outgoingId);
  if (!t) throw new Error(`no incoming transaction of box ${boxId} for outgoing transaction ${outgoingId}`);
  return t;
}

/** Waits until both ends of a transfer have ended with `status`; answers both. */
export async function transferEnded(
  sender: Api,
  outgoingId: number,
  receiver: Api,
  receiverBoxId: number,
  status = 'FINISHED',
  ms = 60_000,
): Promise<{ out: OutgoingJson; in: IncomingJson }> {
  let result: { out: OutgoingJson; in: IncomingJson } | undefined;
  await eventually(async () => {
    const out = await outgoing(sender, outgoingId);
    const inc = await incoming(receiver, receiverBoxId, outgoingId);
    expect(out.status).toBe(status);
    expect(inc.status).toBe(status);
    result = { out, in: inc };
  }, ms);
  return result!;
}

export interface FlatSeries {
  id: number;
  patient: { patientName: { value: string }; patientID: { value: string } };
  study: { studyInstanceUID: { value: string } };
  series: { seriesInstanceUID: { value: string } };
}
export interface ImageJson {
  id: number;
  seriesId: number;
  sopInstanceUID: { value: string };
}

/** Every image of an engine with its flat series (patient, study, series). */
export async function imagesWithSeries(engine: Api): Promise<Array<ImageJson & { flat: FlatSeries }>> {
  const images = await json<ImageJson[]>(
    engine.api('/api/metadata/images/query', post({ startIndex: 0, count: 10_000, queryProperties: [] })),
  );
  const flats = new Map<number, FlatSeries>();
  const out = [];
  for (const image of images) {
    let flat = flats.get(image.seriesId);
    if (!flat) {
      flat = await json<FlatSeries>(engine.api(`/api/metadata/flatseries/${image.seriesId}`));
      flats.set(image.seriesId, flat);
    }
    out.push({ ...image, flat });
  }
  return out;
}
