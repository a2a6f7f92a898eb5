import { Observable } from 'rxjs';
import { z } from 'zod';
import { defineSource } from '../pipeline/component.js';
import type { Envelope } from '../pipeline/envelope.js';
import { asSluiceError } from '../errors.js';

/** Instances are read whole to check them, up to 256 MiB (the header reader's limit). */
const MAX_HEADER_FILE = 256 * 1024 * 1024;

/**
 * `http_upload`: lets `POST /api/images` (and later import sessions) feed this pipeline. The body is
 * streamed into landing (never held whole in memory), and the request is answered after settlement.
 */
export const httpUpload = defineSource({
  type: 'http_upload',
  sourceType: 'user',
  summary: 'Receives Part-10 files uploaded through the HTTP API (POST /api/images)',
  config: z.strictObject({
    max_bytes: z
      .number()
      .int()
      .min(1024)
      .max(MAX_HEADER_FILE)
      .default(MAX_HEADER_FILE)
      .describe(
        'Largest body accepted; a larger one is refused with 413 as soon as it passes this, and not kept',
      ),
  }),
  example: { max_bytes: MAX_HEADER_FILE },
  create: (config, ctx) =>
    new Observable<Envelope>((subscriber) => {
      const unregister = ctx.services.uploads.register(async (body, origin) => {
        await ctx.waitForRoom();
        let landedPath: string;
        try {
          landedPath = (await ctx.landing.land(body, origin, config.max_bytes)).path;
        } catch (err) {
          return { kind: 'quarantine', error: asSluiceError(err, 'UPLOAD.FAILED') };
        }
        return ctx.ingest((e) => subscriber.next(e), landedPath, origin);
      });
      return unregister;
    }),
});
