/**
 * `GET /api/openapi.json`: a valid OpenAPI 3.1 document that describes exactly the routes the app
 * registers, with the request schemas the routes validate with, and security from the policy table.
 */
import { Validator } from '@seriousme/openapi-schema-validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createTestApp, type TestApp } from './helpers/app.js';
import { accessFor } from '../src/api/policy.js';
import { openApiPath } from '../src/api/openapi/document.js';
import { scuInput } from '../src/forwarding/scu-routes.js';

let t: TestApp;
let doc: any;
beforeAll(async () => {
  t = await createTestApp();
  const r = await t.app.request('/api/openapi.json');
  expect(r.status).toBe(200);
  doc = await r.json();
});
afterAll(async () => t?.cleanup());

const registered = () =>
  [
    ...new Set(
      t.app.routes
        .filter((r) => r.method !== 'ALL' && !r.path.includes('*')) // middleware and 404 catch-alls
        .map((r) => `${r.method} ${openApiPath(r.path)}`),
    ),
  ].sort();

describe('the OpenAPI document', () => {
  it('is valid OpenAPI 3.1', async () => {
    const validator = new Validator();
    const result = await validator.validate(doc);
    expect(result.errors ?? [], JSON.stringify(result.errors, null, 1)?.slice(0, 3000)).toEqual([]);
    expect(result.valid).toBe(true);
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.info.version).toBe('test');
  });

  it('describes every registered route and nothing else', () => {
    const documented = Object.entries(doc.paths as Record<string, Record<string, unknown>>)
      .flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`))
      .sort();
    expect(documented).toEqual(registered());
    expect(documented.length).toBeGreaterThan(100);
  });

  it('gives every operation answers with status codes, and 401/403 where the policy asks for a role', () => {
    for (const route of t.app.routes.filter((r) => r.method !== 'ALL' && !r.path.includes('*'))) {
      const op = doc.paths[openApiPath(route.path)][route.method.toLowerCase()];
      const name = `${route.method} ${route.path}`;
      const codes = Object.keys(op.responses);
      expect(
        codes.some((c) => /^[23]\d\d$/.test(c)),
        name,
      ).toBe(true);
      const access = accessFor(route.method, route.path);
      expect(op['x-sluice-access'], name).toBe(access);
      if (access === 'PUBLIC') expect(op.security, name).toEqual([]);
      else expect(codes, name).toContain('401');
      if (access === 'ADMINISTRATOR') expect(codes, name).toContain('403');
      for (const p of op.parameters ?? []) expect(p.schema, `${name} ${p.name}`).toBeDefined();
      const pathNames = [...route.path.matchAll(/:(\w+)/g)].map((m) => m[1]);
      expect(
        (op.parameters ?? []).filter((p: any) => p.in === 'path').map((p: any) => p.name),
        name,
      ).toEqual(pathNames);
    }
  });

  it('takes request bodies and queries from the zod schemas the routes validate with', () => {
    const scus = doc.paths['/api/scus'].post.requestBody.content['application/json'].schema;
    const expected = z.toJSONSchema(scuInput, { io: 'input', unrepresentable: 'any' }) as Record<
      string,
      unknown
    >;
    delete expected.$schema;
    expect(scus).toEqual(expected);
    expect(scus.additionalProperties).toBe(false); // strict bodies: unknown fields are a 400
    const scps = doc.paths['/api/scps'].post.requestBody.content['application/json'].schema;
    expect(scps.required).toEqual(['name', 'aeTitle', 'port']); // Slicebox's, plus optional fields of ours
    expect(scps.properties.queryRetrieve).toMatchObject({ type: 'boolean', description: /C-FIND/ });
    const patients = doc.paths['/api/metadata/patients'].get.parameters.map((p: any) => p.name);
    expect(patients).toEqual(expect.arrayContaining(['startindex', 'count', 'orderby', 'filter', 'sources']));
    const ours = doc.paths['/api/forwarding/transactions'].get;
    expect(ours.parameters.find((p: any) => p.name === 'status').schema.enum).toContain('FAILED');
    expect(doc.paths['/api/system/ready'].get.responses['503']).toBeDefined();
    expect(doc.paths['/metrics'].get.responses['200'].content).toHaveProperty(['text/plain; version=0.0.4']);
  });
});
