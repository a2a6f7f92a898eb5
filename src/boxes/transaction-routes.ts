/**
 * `/api/transactions/{token}/…`: the box protocol's serving side (Slicebox §2.6, §5.4), used by remote PUSH
 * boxes. No user credentials: the token in the path authenticates (the policy lists these routes as
 * PUBLIC), and one that belongs to no POLL box is a 401. Bodies are streamed, never held whole.
 */
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { Hono, type Context } from 'hono';
import type { ApiDeps } from '../api/deps.js';
import type { AuthEnv } from '../api/auth.js';
import { parseJson, readLimited } from '../api/params.js';
import { BadRequestError, SluiceError } from '../errors.js';

const MAX_POLL = 1000;
/** JSON and status bodies of the protocol are a few hundred bytes; a token holder may not send more. */
const MAX_SMALL_BODY = 1024 * 1024;

/** Reads a small body as text, refusing (413) one larger than MAX_SMALL_BODY without buffering it. */
const smallBody = async (c: Context) => (await readLimited(c.req.raw, MAX_SMALL_BODY)).toString('utf8');
const smallJson = async (c: Context) => parseJson(await smallBody(c));

function intParam(c: Context, name: string, min = 0): number {
  const value = c.req.query(name);
  if (value === undefined || !/^\d{1,15}$/.test(value) || Number(value) < min)
    throw new BadRequestError(`query parameter ${name} must be an integer >= ${min}, got "${value ?? ''}"`);
  return Number(value);
}

export function transactionsRoutes(deps: ApiDeps): Hono<AuthEnv> {
  const boxes = deps.boxes.serving;
  const boxOf = (c: Context) => boxes.authenticate(c.req.param('token') ?? '');
  return new Hono<AuthEnv>()
    .post('/:token/image', async (c) => {
      const box = await boxOf(c);
      const params = {
        transactionId: intParam(c, 'transactionid'),
        sequenceNumber: intParam(c, 'sequencenumber', 1),
        totalImageCount: intParam(c, 'totalimagecount', 1),
      };
      if (!c.req.raw.body) throw new BadRequestError('the request body is empty: send a deflated DICOM file');
      const body = Readable.fromWeb(c.req.raw.body as WebReadableStream);
      await boxes.receivePushed(box, params, body);
      return c.body(null, 204);
    })
    .get('/:token/status', async (c) => {
      const box = await boxOf(c);
      return c.json({ status: await boxes.incomingStatus(box, intParam(c, 'transactionid')) });
    })
    .put('/:token/status', async (c) => {
      const box = await boxOf(c);
      const transactionId = intParam(c, 'transactionid');
      // Slicebox 2.x sends `{"status": "FINISHED"}`; older ones the bare word.
      const text = (await smallBody(c)).trim();
      let status = text;
      if (text.startsWith('{')) {
        const json = parseJson(text) as { status?: unknown };
        status = typeof json.status === 'string' ? json.status : '';
      }
      await boxes.setIncomingStatus(box, transactionId, status.replace(/^"|"$/g, ''));
      return c.body(null, 204);
    })
    .get('/:token/outgoing/poll', async (c) => {
      const box = await boxOf(c);
      const n = c.req.query('n') === undefined ? 1 : intParam(c, 'n', 1);
      const items = await boxes.poll(box, Math.min(n, MAX_POLL));
      if (!items.length) return c.text('No outgoing images', 404);
      return c.json(items);
    })
    .get('/:token/outgoing', async (c) => {
      const box = await boxOf(c);
      const stream = await boxes.outgoingImageStream(
        box,
        intParam(c, 'transactionid'),
        intParam(c, 'imageid'),
      );
      return new Response(Readable.toWeb(stream) as ReadableStream, {
        headers: { 'content-type': 'application/octet-stream' },
      });
    })
    .post('/:token/outgoing/done', async (c) => {
      const box = await boxOf(c);
      await boxes.markDone(box, await smallJson(c));
      return c.body(null, 204);
    })
    .post('/:token/outgoing/failed', async (c) => {
      const box = await boxOf(c);
      await boxes.markFailed(box, await smallJson(c));
      return c.body(null, 204);
    });
}
