/**
 * Settlement: every envelope ends exactly once, as `ack` (after the last sink), `drop` (filtered on
 * purpose; counts as an ack) or `quarantine` (a typed error; the source reports a failure).
 */
import { performance } from 'node:perf_hooks';
import { EMPTY, from, mergeMap, of, type OperatorFunction } from 'rxjs';
import type { Envelope } from './envelope.js';
import { asSluiceError, type SluiceError } from '../errors.js';
import type { ComponentContext } from './component.js';
import type { Outcome } from './outcome.js';

/** Returned by a per-item function to drop an envelope on purpose. */
export class Drop {
  constructor(readonly reason: string) {}
}
export const drop = (reason: string) => new Drop(reason);

/** Settles envelopes by id; a second settlement of the same envelope is ignored. */
export interface Settler {
  settle(envelope: Envelope, outcome: Outcome, ctx?: ComponentContext): void;
}

/**
 * The one helper through which operators and sinks touch envelopes: runs `fn` with bounded concurrency,
 * passes results on, settles drops and failures (quarantine) without ever erroring the stream.
 */
export function perItem(
  ctx: ComponentContext,
  fn: (envelope: Envelope) => Promise<Envelope | Drop> | Envelope | Drop,
  options: { concurrency: number },
): OperatorFunction<Envelope, Envelope> {
  return mergeMap((envelope: Envelope) => {
    ctx.counters.received++;
    return from(
      (async () => {
        try {
          const started = ctx.timed ? performance.now() : 0;
          const result = await fn(envelope);
          ctx.timed?.(performance.now() - started);
          if (result instanceof Drop) {
            ctx.counters.dropped++;
            ctx.settler.settle(envelope, { kind: 'drop', envelope, reason: result.reason }, ctx);
            return undefined;
          }
          ctx.counters.emitted++;
          return result;
        } catch (err) {
          ctx.counters.errors++;
          ctx.counters.quarantined++;
          ctx.settler.settle(envelope, { kind: 'quarantine', envelope, error: asSluiceError(err) }, ctx);
          return undefined;
        }
      })(),
    ).pipe(mergeMap((r) => (r ? of(r) : EMPTY)));
  }, options.concurrency);
}
