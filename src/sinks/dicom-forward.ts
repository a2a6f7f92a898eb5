import { z } from 'zod';
import { defineSink } from '../pipeline/component.js';
import { perItem } from '../pipeline/settle.js';
import { withFacts } from '../pipeline/envelope.js';
import { forwardingItem, queueConcurrency } from './forward.js';

/**
 * Static forwarding declared in the pipeline file: every instance goes to one DICOM peer, through the same
 * durable outbox, batching and retries as managed forwarding rules. It requires `storage` and `index` before it.
 */
export const dicomForward = defineSink({
  type: 'dicom_forward',
  requires: ['stored', 'indexed'],
  provides: ['forwarded'],
  summary: 'Queues every instance for a DICOM peer named in the file (durable outbox; sent by a worker)',
  config: z.strictObject({
    name: z
      .string()
      .min(1)
      .max(256)
      .optional()
      .describe('Name of the destination in logs (default: the AE title)'),
    ae_title: z
      .string()
      .trim()
      .min(1)
      .max(16)
      .regex(/^[\x20-\x5b\x5d-\x7e]+$/, 'printable ASCII without backslash')
      .describe("The peer's AE title (called AE)"),
    host: z.string().min(1).describe("The peer's host name or address"),
    port: z.number().int().min(1).max(65535).describe("The peer's DICOM port"),
    concurrency: queueConcurrency,
  }),
  example: { name: 'archive', ae_title: 'ARCHIVE', host: '127.0.0.1', port: 104, concurrency: 64 },
  create: (config, ctx) => {
    const forwarding = ctx.services.forwarding;
    const routeKey = `static:${ctx.pipeline}:${ctx.path}`;
    const target = {
      kind: 'dicom' as const,
      name: config.name ?? config.ae_title,
      aeTitle: config.ae_title,
      host: config.host,
      port: config.port,
    };
    return perItem(
      ctx,
      async (envelope) => {
        await forwarding.enqueue([
          {
            routeKey,
            ruleId: null,
            target,
            keepImages: true,
            item: forwardingItem(envelope, 'dicom_forward'),
            ...(envelope.event ? { eventId: envelope.event.id } : {}),
          },
        ]);
        return withFacts(envelope, { forwarded: { entries: 1 } });
      },
      { concurrency: config.concurrency },
    );
  },
});
