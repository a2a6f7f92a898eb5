/**
 * One info line per burst of activity instead of one per instance: a source records each settled
 * envelope, and once it has been quiet for `quietMs` (or has counted `maxItems`), the summary is logged
 * (instances, acknowledged, dropped, quarantined, bytes, duration, rate). Each instance is logged at debug.
 *
 * @example
 * const batches = new BatchSummary(logger('watch_folder'), { root });
 * batches.record(await ctx.ingest(emit, path, origin));
 */
import type { Outcome } from '../pipeline/outcome.js';
import type { Log } from './logger.js';

export class BatchSummary {
  private startedAt = 0;
  private lastAt = 0;
  private counts = { instances: 0, acknowledged: 0, dropped: 0, quarantined: 0, bytes: 0 };
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly log: Log,
    private readonly fields: Record<string, unknown> = {},
    private readonly options: { quietMs?: number; maxItems?: number; message?: string } = {},
  ) {}

  private get quietMs(): number {
    return this.options.quietMs ?? 2000;
  }

  /** Counts one settled envelope (and logs it at debug). */
  record(outcome: Outcome, detail?: Record<string, unknown>): void {
    const now = performance.now();
    if (this.counts.instances === 0) this.startedAt = now;
    this.lastAt = now;
    const c = this.counts;
    c.instances++;
    c.bytes += outcome.envelope?.size ?? 0;
    if (outcome.kind === 'ack') c.acknowledged++;
    else if (outcome.kind === 'drop') c.dropped++;
    else c.quarantined++;
    if (this.log.enabled('debug'))
      this.log.debug(
        {
          ...this.fields,
          ...detail,
          outcome: outcome.kind,
          envelope: outcome.envelope?.id,
          sopInstanceUid: outcome.envelope?.header.sopInstanceUid,
          ...(outcome.kind === 'quarantine' ? { code: outcome.error.code } : {}),
          ...(outcome.kind === 'drop' ? { reason: outcome.reason } : {}),
        },
        'instance settled',
      );
    if (c.instances >= (this.options.maxItems ?? 10_000)) this.flush();
    else this.timer ??= this.arm(this.quietMs);
  }

  private arm(ms: number): NodeJS.Timeout {
    const timer = setTimeout(() => {
      this.timer = undefined;
      const idle = performance.now() - this.lastAt;
      if (idle >= this.quietMs) this.flush();
      else this.timer = this.arm(this.quietMs - idle);
    }, ms);
    timer.unref();
    return timer;
  }

  /** Logs what was counted since the last summary, if anything. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const c = this.counts;
    if (!c.instances) return;
    const durationMs = Math.round(this.lastAt - this.startedAt);
    const summary = {
      ...this.fields,
      ...c,
      durationMs,
      mbPerSec: durationMs > 0 ? Number((c.bytes / 1e6 / (durationMs / 1000)).toFixed(1)) : undefined,
    };
    this.counts = { instances: 0, acknowledged: 0, dropped: 0, quarantined: 0, bytes: 0 };
    const message = this.options.message ?? 'batch';
    if (c.quarantined) this.log.warn(summary, message);
    else this.log.info(summary, message);
  }
}
