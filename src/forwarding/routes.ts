import { Hono } from 'hono';
import { z } from 'zod';
import type { ApiDeps } from '../api/deps.js';
import type { AuthEnv } from '../api/auth.js';
import { idParam, jsonBody, pagingParams, parseOr400 } from '../api/params.js';
import { SOURCE_TYPES, type SourceType } from '../pipeline/origin.js';

/** Slicebox's `ForwardingRule`; names are taken from the known sources and the destination. */
export const ruleInput = z.strictObject({
  id: z.number().optional(),
  source: z.strictObject({
    sourceType: z.enum(SOURCE_TYPES),
    sourceName: z.string().max(256).optional(),
    sourceId: z.number().int(),
  }),
  destination: z.strictObject({
    destinationType: z.string(),
    destinationName: z.string().optional(),
    destinationId: z.number().int(),
  }),
  keepImages: z.boolean(),
});

export const transactionQuery = pagingParams.extend({
  status: z
    .enum(['OPEN', 'READY', 'SENDING', 'DELIVERING', 'RETRY', 'FAILED'])
    .optional()
    .describe('Only transactions in this state'),
});

/**
 * Slicebox's `/api/forwarding/rules`, and ours: `/api/forwarding/transactions`, the outbox's batches
 * (FAILED ones are the dead letters) with `POST …/{id}/retry` and `DELETE …/{id}` (discard).
 */
export function forwardingRoutes(deps: ApiDeps): Hono<AuthEnv> {
  const { forwarding } = deps;
  const knownName = async (sourceType: SourceType, sourceId: number): Promise<string | undefined> => {
    if (sourceType === 'user') return (await deps.users.all()).find((u) => u.id === sourceId)?.user;
    return [
      ...deps.engine.sources(),
      ...(await deps.managedSources.sources()),
      ...(await deps.boxes.sources()),
    ].find((s) => s.sourceType === sourceType && s.sourceId === sourceId)?.sourceName;
  };
  return new Hono<AuthEnv>()
    .get('/rules', async (c) => {
      const { startindex, count } = parseOr400(pagingParams, c.req.query(), 'Query parameters');
      return c.json(await forwarding.listRules(startindex, count));
    })
    .post('/rules', async (c) => {
      const input = parseOr400(ruleInput, await jsonBody(c.req), 'Forwarding rule');
      const { source, destination, keepImages } = input;
      const rule = await forwarding.createRule({
        source: {
          sourceType: source.sourceType,
          sourceId: source.sourceId,
          sourceName: (await knownName(source.sourceType, source.sourceId)) ?? source.sourceName ?? '',
        },
        destinationType: destination.destinationType,
        destinationId: destination.destinationId,
        keepImages,
      });
      return c.json(rule, 201);
    })
    .delete('/rules/:id', async (c) => {
      await forwarding.deleteRule(idParam(c.req.param('id')));
      return c.body(null, 204);
    })
    .get('/transactions', async (c) => {
      const { startindex, count, status } = parseOr400(transactionQuery, c.req.query(), 'Query parameters');
      return c.json(await forwarding.listTransactions({ startIndex: startindex, count, status }));
    })
    .get('/transactions/:id', async (c) => c.json(await forwarding.transaction(idParam(c.req.param('id')))))
    .get('/transactions/:id/images', async (c) =>
      c.json(await forwarding.transactionImages(idParam(c.req.param('id')))),
    )
    .post('/transactions/:id/retry', async (c) => c.json(await forwarding.retry(idParam(c.req.param('id')))))
    .delete('/transactions/:id', async (c) => {
      await forwarding.discard(idParam(c.req.param('id')));
      return c.body(null, 204);
    });
}
