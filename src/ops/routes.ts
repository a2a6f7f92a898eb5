/**
 * Operations routes: `GET /metrics` (Prometheus text; protected like the API unless the operator opens it
 * to loopback, see src/api/policy.ts) and `GET /api/system/ready` (readiness: 503 while a pipeline or
 * component is down or the disk is nearly full). Liveness is `GET /api/system/health`.
 */
import { Hono, type MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';
import type { ApiDeps } from '../api/deps.js';
import { httpRequests, httpSeconds, recordState, registry, startProcessMetrics } from './metrics.js';
import { readiness } from './status.js';

export function metricsRoutes(deps: ApiDeps): Hono {
  startProcessMetrics();
  return new Hono().get('/', async (c) => {
    recordState({
      pipelines: deps.engine.pipelines(),
      outbox: await deps.forwarding.listTransactions({ startIndex: 0, count: 100_000 }),
      outgoing: await deps.boxes.listOutgoing(0, 100_000),
      incoming: await deps.boxes.listIncoming(0, 100_000),
      now: Date.now(),
    });
    c.header('Content-Type', registry.contentType);
    return c.body(await registry.metrics());
  });
}

export function readinessRoutes(deps: ApiDeps): Hono {
  return new Hono().get('/ready', async (c) => {
    const r = await readiness(deps);
    return c.json(r, r.ready ? 200 : 503);
  });
}

/** Counts every request by method, route pattern (never the raw path) and status. */
export function httpMetrics(): MiddlewareHandler {
  return async (c, next) => {
    const started = performance.now();
    try {
      await next();
    } finally {
      const route = matchedRoutes(c).find((r) => r.method !== 'ALL')?.path ?? 'unmatched';
      const method = c.req.method;
      httpRequests.inc({ method, route, status: String(c.res.status) });
      httpSeconds.observe({ method, route }, (performance.now() - started) / 1000);
    }
  };
}
