import { Observable } from 'rxjs';
import { z } from 'zod';
import { defineSource } from '../pipeline/component.js';
import type { Envelope } from '../pipeline/envelope.js';
import { asSluiceError } from '../errors.js';

/**
 * `http_upload`: lets `POST /api/images` (and later import sessions) feed this pipeline. The body is
 * streamed into landing (never held whole in memory), and the request is answered after settlement.
 */
export const httpUpload = defineSource({
  type: 'http_upload',
  sourceType: 'user',
  summary: 'Receives Part-10 files uploaded through the HTTP API (POST /api/images)',
  config: z.strictObject({}),
  example: {},
  create: (_config, ctx) =>
    new Observable<Envelope>((subscriber) => {
      const unregister = ctx.services.uploads.register(async (body, origin) => {
        await ctx.waitForRoom();
        let landedPath: string;
        try {
          landedPath = (await ctx.landing.land(body, origin)).path;
        } catch (err) {
          return { kind: 'quarantine', error: asSluiceError(err, 'UPLOAD.FAILED') };
        }
        return ctx.ingest((e) => subscriber.next(e), landedPath, origin);
      });
      return unregister;
    }),
});
