import { z } from 'zod';
import { defineSink, type ComponentContext } from '../pipeline/component.js';
import { withFacts, type Envelope } from '../pipeline/envelope.js';
import { SluiceError } from '../errors.js';
import type { ForwardingItem } from '../forwarding/store.js';
import { perItem } from '../pipeline/settle.js';

/**
 * The stored, indexed instance an outbox entry names. `sluice lint` keeps the forwarding sinks after
 * `storage` and `index` (they require the facts `stored` and `indexed`); a pipeline built in code may not.
 */
export function forwardingItem(envelope: Envelope, type: string): ForwardingItem {
  const { stored, indexed } = envelope.facts;
  if (!stored) throw new SluiceError('FORWARD.NOT_STORED', `${type} must come after the storage sink`, 500);
  if (!indexed) throw new SluiceError('FORWARD.NOT_INDEXED', `${type} must come after the index sink`, 500);
  return { imageId: indexed.image.id, sopInstanceUid: envelope.header.sopInstanceUid };
}

/** The concurrency option both forwarding sinks share. */
export const queueConcurrency = z
  .number()
  .int()
  .min(1)
  .max(1024)
  .default(64)
  .describe('Instances being queued at once (they share one state store commit)');

/**
 * Managed forwarding (Slicebox's forwarding rules, `/api/forwarding/rules`): each stored and indexed
 * instance whose source has rules is added to the durable outbox, once per rule, and the sink returns;
 * the forwarding worker sends it later, with retries.
 */
export const forward = defineSink({
  type: 'forward',
  requires: ['stored', 'indexed'],
  provides: ['forwarded'],
  summary: 'Queues each instance for the forwarding rules of its source (durable outbox; sent by a worker)',
  config: z.strictObject({ concurrency: queueConcurrency }),
  example: { concurrency: 64 },
  create: (config, ctx: ComponentContext) => {
    const forwarding = ctx.services.forwarding;
    return perItem(
      ctx,
      async (envelope) => {
        if (!(await forwarding.rulesFor(envelope.origin)).length) return envelope;
        const entries = await forwarding.forwardByRules(
          envelope.origin,
          forwardingItem(envelope, 'forward'),
          envelope.event?.id,
        );
        return withFacts(envelope, { forwarded: { entries } });
      },
      { concurrency: config.concurrency },
    );
  },
});
