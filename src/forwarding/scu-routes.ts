import { Hono } from 'hono';
import { z } from 'zod';
import type { ApiDeps } from '../api/deps.js';
import type { AuthEnv } from '../api/auth.js';
import { idParam, jsonBody, pagingParams, parseOr400 } from '../api/params.js';
import { NotFoundError, SluiceError } from '../errors.js';
import { echoScp } from '../dimse/scu/store-scu.js';

/** Slicebox's `ScuData`; `id` is sent as -1 by Slicebox clients and ignored. */
export const scuInput = z.strictObject({
  id: z.number().optional(),
  name: z.string().trim().min(1, 'name must not be empty').max(256),
  aeTitle: z
    .string()
    .trim()
    .min(1, 'AE title must not be empty')
    .max(16, 'AE title must be at most 16 characters')
    .regex(/^[\x20-\x5b\x5d-\x7e]+$/, 'AE title must be printable ASCII without backslash'),
  host: z
    .string()
    .trim()
    .min(1, 'host must not be empty')
    .max(253)
    .regex(/^[A-Za-z0-9.:[\]_-]+$/, 'host must be a host name or an IP address'),
  port: z
    .number()
    .int('port must be an integer')
    .min(1, 'port must be 1..65535')
    .max(65535, 'port must be 1..65535'),
});

export const imageIds = z.array(z.number().int().nonnegative()).max(100_000);

/** Slicebox's `/api/scus`: remote C-STORE SCPs, and `POST /{id}/send` to C-STORE stored images to one. */
export function scusRoutes(deps: ApiDeps): Hono<AuthEnv> {
  const { scus } = deps;
  return (
    new Hono<AuthEnv>()
      .get('/', async (c) => {
        const { startindex, count } = parseOr400(pagingParams, c.req.query(), 'Query parameters');
        return c.json(await scus.list(startindex, count));
      })
      .post('/', async (c) => {
        const { name, aeTitle, host, port } = parseOr400(scuInput, await jsonBody(c.req), 'SCU');
        return c.json(await scus.create({ name, aeTitle, host, port }), 201);
      })
      .delete('/:id', async (c) => {
        await scus.delete(idParam(c.req.param('id')));
        return c.body(null, 204);
      })
      .post('/:id/send', async (c) => {
        const id = idParam(c.req.param('id'));
        const ids = parseOr400(imageIds, await jsonBody(c.req), 'body must be a JSON array of image ids');
        await scus.send(id, ids);
        return c.body(null, 204);
      })
      // Ours: a C-ECHO, so people can check a peer before sending to it (204, or 502 with the reason).
      .post('/:id/echo', async (c) => {
        const scu = await scus.get(idParam(c.req.param('id')));
        if (!scu) throw new NotFoundError(`SCU ${c.req.param('id')}`);
        const { aeTitle } = deps.engine.services.config;
        const target = { host: scu.host, port: scu.port, calledAe: scu.aeTitle, callingAe: aeTitle };
        try {
          await echoScp({ ...target, timeoutMs: 10_000 });
        } catch (err) {
          const where = `${scu.aeTitle}@${scu.host}:${scu.port}`;
          throw new SluiceError(
            'SCU.ECHO_FAILED',
            `C-ECHO to ${where} failed: ${(err as Error).message}`,
            502,
          );
        }
        return c.body(null, 204);
      })
  );
}

/** Slicebox's `GET /api/destinations`: every SCU, then every box. */
export function destinationsRoutes(deps: ApiDeps): Hono<AuthEnv> {
  return new Hono<AuthEnv>().get('/', async (c) =>
    c.json([...(await deps.scus.destinations()), ...(await deps.boxes.destinations())]),
  );
}
