/**
 * How a real engine's push worker takes a receiver's answers, against a minimal receiver that answers
 * what a Slicebox or a Sluice may answer: 400 for a file it refuses (the image is FAILED with the
 * receiver's reason, never counted as sent), 503 for a while (retried with backoff until it goes through),
 * and the final status PUT once every image is settled.
 */
import { createServer, type Server } from 'node:http';
import { randomUUID } from 'node:crypto';
import { inflateSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestEngine, type TestEngine } from './helpers/engine.js';
import { eventually } from './helpers/eventually.js';
import { FAST_BOXES, json, outgoing, post, send, uploadStudy, type BoxJson } from './helpers/boxes.js';
import { attr, parseHeader } from '../src/dicom/header.js';

let a: TestEngine;
let server: Server;
const token = randomUUID();
const pushes: Array<{ sequenceNumber: number; answered: number; patientIdentityRemoved?: string }> = [];
const statusPuts: string[] = [];
let busyAnswers = 2;

beforeAll(async () => {
  server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (!url.pathname.startsWith(`/api/transactions/${token}/`))
        return void res.writeHead(401).end('no box');
      const what = url.pathname.slice(`/api/transactions/${token}/`.length);
      if (what === 'image') {
        const sequenceNumber = Number(url.searchParams.get('sequencenumber'));
        const header = parseHeader(inflateSync(Buffer.concat(chunks)));
        let answered = 204;
        if (sequenceNumber === 1) answered = 400;
        else if (sequenceNumber === 2 && busyAnswers-- > 0) answered = 503;
        pushes.push({
          sequenceNumber,
          answered,
          patientIdentityRemoved: attr(header, 'PatientIdentityRemoved'),
        });
        if (answered === 400)
          return void res.writeHead(400).end('Invalid DICOM data: refused by policy here');
        return void res.writeHead(answered).end(answered === 503 ? 'busy' : undefined);
      }
      if (what === 'status' && req.method === 'PUT') {
        statusPuts.push(Buffer.concat(chunks).toString());
        return void res.writeHead(204).end();
      }
      res.writeHead(404).end(); // the connect probe, and an empty poll queue
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  a = await startTestEngine({ boxes: FAST_BOXES });
});
afterAll(async () => {
  await a?.cleanup();
  await new Promise((r) => server.close(r));
});

describe('push answers', () => {
  it('fails a refused image with the reason, retries a busy receiver, and reports the end', async () => {
    const port = (server.address() as { port: number }).port;
    const box = await json<BoxJson>(
      a.api(
        '/api/boxes/connect',
        post({ name: 'stub', baseUrl: `http://127.0.0.1:${port}/api/transactions/${token}` }),
      ),
      201,
    );
    const study = await uploadStudy(a, { series: 1, perSeries: 3 });
    const id = await send(a, box.id, study.imageIds);
    await eventually(async () => {
      expect((await outgoing(a, id)).status).toBe('FAILED');
      expect(statusPuts).toEqual([JSON.stringify({ status: 'FAILED' })]);
    });
    expect(await outgoing(a, id)).toMatchObject({ sentImageCount: 2, failedImageCount: 1 });
    const images = await json<Array<{ status: string; message: string | null; sent: boolean }>>(
      a.api(`/api/boxes/outgoing/${id}/images?transfer=true`),
    );
    expect(images.map((i) => [i.status, i.sent])).toEqual([
      ['FAILED', false],
      ['SENT', true],
      ['SENT', true],
    ]);
    expect(images[0]!.message).toBe('refused by stub: HTTP 400: Invalid DICOM data: refused by policy here');
    expect(pushes.filter((p) => p.sequenceNumber === 1)).toHaveLength(1); // refused: never retried
    expect(pushes.filter((p) => p.sequenceNumber === 2).map((p) => p.answered)).toEqual([503, 503, 204]);
    expect(pushes.every((p) => p.patientIdentityRemoved === 'YES')).toBe(true);
  });
});
