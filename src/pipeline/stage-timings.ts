/**
 * Where the time of each instance goes, stage by stage (receive, queue, parse, each operator and sink, the
 * blob store's write and fsync, settling): counts, totals and a coarse histogram per stage, cheap enough to
 * be always on (a few `performance.now()` calls per instance). `GET /api/pipelines/stages` answers them;
 * `npm run bench:ingest` prints them beside the rates.
 */
import { performance } from 'node:perf_hooks';

/** Bucket upper bounds in ms: a stage's p50/p99 are read off these. */
const BOUNDS = [0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000, Infinity];

interface Stat {
  count: number;
  totalMs: number;
  maxMs: number;
  buckets: number[];
}

export interface StageSummary {
  count: number;
  meanMs: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  totalMs: number;
}

export class StageTimings {
  private readonly stats = new Map<string, Stat>();

  record(stage: string, ms: number): void {
    let s = this.stats.get(stage);
    if (!s) this.stats.set(stage, (s = { count: 0, totalMs: 0, maxMs: 0, buckets: BOUNDS.map(() => 0) }));
    s.count++;
    s.totalMs += ms;
    if (ms > s.maxMs) s.maxMs = ms;
    let i = 0;
    while (ms > BOUNDS[i]) i++;
    s.buckets[i]++;
  }

  /** Runs `fn` and records how long it took, failed or not. */
  async time<T>(stage: string, fn: () => Promise<T>): Promise<T> {
    const start = performance.now();
    try {
      return await fn();
    } finally {
      this.record(stage, performance.now() - start);
    }
  }

  snapshot(): Record<string, StageSummary> {
    const out: Record<string, StageSummary> = {};
    for (const [stage, s] of this.stats) {
      const quantile = (q: number) => {
        let seen = 0;
        for (let i = 0; i < BOUNDS.length; i++) {
          seen += s.buckets[i];
          if (seen >= q * s.count) return Math.min(BOUNDS[i], s.maxMs);
        }
        return s.maxMs;
      };
      out[stage] = {
        count: s.count,
        meanMs: s.totalMs / s.count,
        p50Ms: quantile(0.5),
        p99Ms: quantile(0.99),
        maxMs: s.maxMs,
        totalMs: s.totalMs,
      };
    }
    return out;
  }

  reset(): void {
    this.stats.clear();
  }
}

export const now = () => performance.now();
