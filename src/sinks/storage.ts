import { z } from 'zod';
import { defineSink } from '../pipeline/component.js';
import { withFacts } from '../pipeline/envelope.js';
import { perItem } from '../pipeline/settle.js';

/**
 * Stores each instance's Part-10 file in the blob store: the landed file as received (linked, not copied),
 * or the instance held in memory (a small C-STORE dataset, or what an operator rewrote), written once. Re-sending the same SOP instance replaces the
 * stored file atomically.
 */
export const storage = defineSink({
  type: 'storage',
  provides: ['stored'],
  summary: 'Stores each instance in the blob store (atomic, durable, one file per SOP instance)',
  config: z.strictObject({
    concurrency: z.number().int().min(1).max(256).default(16).describe('Files stored at once'),
  }),
  example: { concurrency: 16 },
  create: (config, ctx) =>
    perItem(
      ctx,
      async (envelope) => {
        const key = envelope.header.sopInstanceUid;
        if (envelope.draft?.key === key) await envelope.draft.commit();
        else if (envelope.content) await ctx.services.blobs.putBytes(key, envelope.content);
        else await ctx.services.blobs.putFile(key, envelope.path);
        return withFacts(envelope, { stored: { key } });
      },
      { concurrency: config.concurrency },
    ),
});
