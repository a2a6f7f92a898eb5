import { z } from 'zod';
import { defineSink, type ComponentContext } from '../pipeline/component.js';
import type { Envelope } from '../pipeline/envelope.js';
import { withTags } from '../pipeline/envelope.js';
import { SluiceError } from '../errors.js';
import type { ForwardingService } from '../forwarding/service.js';
import type { ForwardingItem } from '../forwarding/store.js';
import { perItem } from '../pipeline/settle.js';

export function forwardingOf(ctx: ComponentContext, type: string): ForwardingService {
  const forwarding = ctx.services.forwarding;
  if (!forwarding) throw new SluiceError('CONFIG.INVALID', `${type} needs the state store's outbox`, 500);
  return forwarding;
}

/** The stored, indexed instance an outbox entry names; the storage and index sinks must come first. */
export function forwardingItem(envelope: Envelope, ctx: ComponentContext, type: string): ForwardingItem {
  if (typeof envelope.tags.storageKey !== 'string')
    throw new SluiceError('FORWARD.NOT_STORED', `${type} must come after the storage sink`, 500);
  const sopInstanceUid = envelope.header.sopInstanceUid;
  const imageId =
    typeof envelope.tags.imageId === 'number'
      ? envelope.tags.imageId
      : ctx.services.index.imageBySopInstanceUid(sopInstanceUid)?.id;
  if (imageId === undefined)
    throw new SluiceError('FORWARD.NOT_INDEXED', `${type} must come after the index sink`, 500);
  return { imageId, sopInstanceUid };
}

/**
 * Managed forwarding (Slicebox's forwarding rules, `/api/forwarding/rules`): each stored and indexed
 * instance whose source has rules is added to the durable outbox, once per rule, and the sink returns;
 * the forwarding worker sends it later, with retries. Place it after `storage` and `index`.
 */
export const forward = defineSink({
  type: 'forward',
  summary: 'Queues each instance for the forwarding rules of its source (durable outbox; sent by a worker)',
  config: z.strictObject({
    concurrency: z
      .number()
      .int()
      .min(1)
      .max(1024)
      .default(64)
      .describe('Instances being queued at once (they share one state store commit)'),
  }),
  example: { concurrency: 64 },
  create: (config, ctx) => {
    const forwarding = forwardingOf(ctx, 'forward');
    return perItem(
      ctx,
      async (envelope) => {
        if (!forwarding.rulesFor(envelope.origin).length) return envelope;
        const rules = await forwarding.forwardByRules(
          envelope.origin,
          forwardingItem(envelope, ctx, 'forward'),
        );
        return withTags(envelope, { forwardedRules: rules });
      },
      { concurrency: config.concurrency },
    );
  },
});
