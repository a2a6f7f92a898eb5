import { z } from 'zod';
import { defineSink } from '../pipeline/component.js';
import { withFacts } from '../pipeline/envelope.js';
import { perItem } from '../pipeline/settle.js';

/**
 * Upserts patient, study, series and image in the metadata index (Slicebox keys) and records the
 * series source. Establishes the fact `indexed`: the image and whether it was new (false when it replaced the
 * same SOP instance).
 */
export const index = defineSink({
  type: 'index',
  provides: ['indexed'],
  summary: 'Indexes each instance (patient/study/series/image upsert, series source)',
  config: z.strictObject({
    concurrency: z
      .number()
      .int()
      .min(1)
      .max(256)
      .default(16)
      .describe(
        'Instances indexed at once; an index that groups concurrent writes (ClickHouse) writes them in one batch',
      ),
  }),
  example: { concurrency: 16 },
  create: (config, ctx) =>
    perItem(
      ctx,
      async (envelope) => {
        const { image, created } = await ctx.services.index.upsert({
          header: envelope.header,
          origin: envelope.origin,
          size: envelope.size,
        });
        return withFacts(envelope, { indexed: { image, created } });
      },
      { concurrency: config.concurrency },
    ),
});
