/**
 * `box_incoming`: images received from boxes (pushed to our `/api/transactions/{token}/image`, or pulled
 * by polling a remote box) feed the pipeline that has this source, as `{"sourceType": "box", "sourceId":
 * <box id>}`. Each body is inflated as it streams into landing, and the sender is answered only once the
 * instance is settled: a 204 means stored, a 400 carries the pipeline's reason.
 */
import { Observable } from 'rxjs';
import { z } from 'zod';
import { defineSource } from '../pipeline/component.js';
import type { Envelope } from '../pipeline/envelope.js';
import type { Origin } from '../pipeline/origin.js';
import { asSluiceError, SluiceError } from '../errors.js';
import { logger } from '../ops/logger.js';
import { BatchSummary } from '../ops/batch-summary.js';

const log = logger('box_incoming');

export const boxIncoming = defineSource({
  type: 'box_incoming',
  summary: 'Receives the images of box transfers (pushed to us or polled from remote boxes)',
  config: z.strictObject({}),
  example: {},
  create: (_config, ctx) =>
    new Observable<Envelope>((subscriber) => {
      const batches = new BatchSummary(log, { pipeline: ctx.pipeline }, { message: 'box images received' });
      const detach = ctx.services.boxes.attach({
        async receive(box, body, detail) {
          const origin: Origin = { sourceType: 'box', sourceId: box.id, sourceName: box.name, detail };
          await ctx.waitForRoom();
          let landedPath: string;
          try {
            landedPath = (await ctx.landing.land(body, origin)).path;
          } catch (err) {
            return { kind: 'quarantine', error: asSluiceError(err, 'BOX.RECEIVE_FAILED') };
          }
          const outcome = await ctx.ingest((e) => subscriber.next(e), landedPath, origin);
          batches.record(outcome, { box: box.name });
          return outcome;
        },
      });
      return () => {
        detach();
        batches.flush();
      };
    }),
});
