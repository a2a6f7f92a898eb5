import { Hono } from 'hono';
import type { ApiDeps } from '../deps.js';

export function systemRoutes(deps: ApiDeps): Hono {
  return (
    new Hono()
      // 200 while every pipeline runs with all its sources up; 503 naming what is not (a supervisor or load
      // balancer stops sending here, an operator reads why).
      .get('/health', (c) => {
        const problems = deps.engine.problems();
        return problems.length ? c.text(problems.join('\n'), 503) : c.body(null, 200);
      })
      .get('/information', (c) => c.json({ version: deps.version }))
  );
}
