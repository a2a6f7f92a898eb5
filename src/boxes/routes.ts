/**
 * `/api/boxes` (Slicebox §2.6): pairing (`createconnection`, `connect`), listing and deleting boxes, sending
 * images, and the incoming and outgoing transactions.
 */
import { Hono } from 'hono';
import { z } from 'zod';
import type { ApiDeps } from '../api/deps.js';
import type { AuthEnv } from '../api/auth.js';
import { idParam, jsonBody, pagingParams, parseOr400 } from '../api/params.js';
import type { Image } from '../storage/metadata-index.js';
import { boxJson } from './wire.js';
import { tagValuesFromJson } from '../anonymization/service.js';
import { hasRole } from '../users/service.js';

const paging = (query: Record<string, string>) => parseOr400(pagingParams, query, 'Query parameters');

const profile = z.strictObject({
  options: z.array(z.object({ name: z.string() }).passthrough()).describe('Confidentiality options by name'),
});
const optionNames = (p: z.infer<typeof profile> | undefined) => (p?.options ?? []).map((o) => o.name);

export const connectionInput = z.strictObject({
  name: z.string({ error: 'name must be a string' }),
  defaultProfile: profile.optional(),
});
export const remoteBoxInput = connectionInput.extend({
  baseUrl: z.string({ error: 'baseUrl must be a string' }),
});
const tagValue = z.strictObject({ tagPath: z.unknown(), value: z.string() });
export const sendInput = z.strictObject({
  profile: profile.optional(),
  imageTagValuesSet: z
    .array(
      z.strictObject({ imageId: z.number().int().nonnegative(), tagValues: z.array(tagValue).default([]) }),
    )
    .max(100_000),
});

export function boxesRoutes(deps: ApiDeps): Hono<AuthEnv> {
  const { boxes, index } = deps;
  const existing = async (ids: number[]) =>
    (await Promise.all(ids.map((id) => index.image(id)))).filter((i): i is Image => !!i);
  const boxOut = async (id: number) => {
    const box = await boxes.box(id);
    return boxJson(box, boxes.online(box));
  };
  return (
    new Hono<AuthEnv>()
      // The transaction lists first, so that `incoming` and `outgoing` are never read as a box id.
      .get('/incoming', async (c) => {
        const { startindex, count } = paging(c.req.query());
        return c.json(await boxes.listIncoming(startindex, count));
      })
      .delete('/incoming/:id', async (c) => {
        await boxes.deleteIncoming(idParam(c.req.param('id')));
        return c.body(null, 204);
      })
      .get('/incoming/:id/images', async (c) =>
        c.json(await existing(await boxes.incomingImageIds(idParam(c.req.param('id'))))),
      )
      .get('/outgoing', async (c) => {
        const { startindex, count } = paging(c.req.query());
        return c.json(await boxes.listOutgoing(startindex, count));
      })
      .delete('/outgoing/:id', async (c) => {
        await boxes.deleteOutgoing(idParam(c.req.param('id')));
        return c.body(null, 204);
      })
      .get('/outgoing/:id/images', async (c) => {
        const rows = await boxes.outgoingImages(idParam(c.req.param('id')));
        // Slicebox answers the images (that still exist); the transfer status of each is ours, beside it.
        const transfer = c.req.query('transfer') === 'true';
        if (transfer) return c.json(rows);
        return c.json(await existing(rows.map((r) => r.imageId)));
      })
      .get('/', async (c) => {
        const { startindex, count } = paging(c.req.query());
        const list = await boxes.listBoxes(startindex, count);
        // A box token lets its holder act as that box: only administrators (who pair boxes) see it.
        if (hasRole(c.get('user'), 'ADMINISTRATOR')) return c.json(list);
        return c.json(list.map((b) => ({ ...b, token: '', baseUrl: '' })));
      })
      .post('/createconnection', async (c) => {
        const input = parseOr400(connectionInput, await jsonBody(c.req), 'RemoteBoxConnectionData');
        const box = await boxes.createConnection({
          name: input.name,
          defaultProfile: optionNames(input.defaultProfile),
        });
        return c.json(await boxOut(box.id), 201);
      })
      .post('/connect', async (c) => {
        const input = parseOr400(remoteBoxInput, await jsonBody(c.req), 'RemoteBox');
        const box = await boxes.connect({
          name: input.name,
          baseUrl: input.baseUrl,
          defaultProfile: optionNames(input.defaultProfile),
        });
        return c.json(await boxOut(box.id), 201);
      })
      .delete('/:id', async (c) => {
        await boxes.deleteBox(idParam(c.req.param('id')));
        return c.body(null, 204);
      })
      .post('/:id/send', async (c) => {
        const id = idParam(c.req.param('id'));
        await boxes.box(id); // 404 before the body is judged, as Slicebox
        const input = parseOr400(sendInput, await jsonBody(c.req), 'BulkAnonymizationData');
        const transaction = await boxes.send(
          id,
          optionNames(input.profile),
          input.imageTagValuesSet.map((s, i) => ({
            imageId: s.imageId,
            tagValues: tagValuesFromJson(s.tagValues, `imageTagValuesSet[${i}].tagValues`),
          })),
        );
        c.header('X-Sluice-Transaction-Id', String(transaction.id));
        return c.body(null, 204);
      })
  );
}
