import { z } from 'zod';
import { defineSink } from '../pipeline/component.js';
import { withTags } from '../pipeline/envelope.js';
import { perItem } from '../pipeline/settle.js';

/**
 * Upserts patient, study, series and image in the metadata index (Slicebox keys) and records the
 * series source. Tags the envelope with `imageId` and `created` (false when it overwrote).
 */
export const index = defineSink({
  type: 'index',
  summary: 'Indexes each instance (patient/study/series/image upsert, series source)',
  config: z.strictObject({}),
  example: {},
  create: (_config, ctx) =>
    perItem(
      ctx,
      (envelope) => {
        const { image, created } = ctx.services.index.upsert({
          header: envelope.header,
          origin: envelope.origin,
          size: envelope.size,
        });
        return withTags(envelope, { imageId: image.id, created, image });
      },
      { concurrency: 1 },
    ),
});
