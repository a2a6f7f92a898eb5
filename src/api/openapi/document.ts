/**
 * The OpenAPI 3.1 document (`GET /api/openapi.json`), generated from what the app really registers: every
 * route of `app.routes`, described by Slicebox's own OpenAPI (./slicebox-openapi.json, for the routes and
 * shapes we share) and by ./operations.ts (the zod schemas that validate bodies and queries, and our own
 * routes). Who may call each route comes from the policy table (src/api/policy.ts): public routes have no
 * security, the others answer 401 (and 403 where an administrator is needed).
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { accessFor } from '../policy.js';
import { OPERATIONS, type OperationDoc, type ResponseDoc } from './operations.js';

type Json = Record<string, any>;

let slicebox: Json | undefined;
const reference = (): Json =>
  (slicebox ??= JSON.parse(
    readFileSync(new URL('./slicebox-openapi.json', import.meta.url), 'utf8'),
  ) as Json);

/** `/api/images/:id` → `/api/images/{id}`; a parameter with a pattern (`:path{.+}`) keeps its name. */
export const openApiPath = (path: string) => path.replace(/:(\w+)(\{[^}]*\})?/g, '{$1}');
const shape = (path: string) => path.replace(/\{[^}]+\}/g, '{}');

/** zod → JSON Schema of what a client sends (inputs: before defaults and transforms). */
function jsonSchema(schema: unknown, io: 'input' | 'output'): Json {
  if (!(schema instanceof z.ZodType)) return schema as Json;
  const out = z.toJSONSchema(schema, { io, unrepresentable: 'any', target: 'draft-2020-12' }) as Json;
  delete out.$schema;
  return out;
}

function queryParameters(query: z.ZodObject): Json[] {
  return Object.entries(query.shape).map(([name, field]) => {
    const schema = jsonSchema(field, 'input');
    const optional = (field as z.ZodType).safeParse(undefined).success;
    const { description, ...rest } = schema;
    return { name, in: 'query', required: !optional, ...(description ? { description } : {}), schema: rest };
  });
}

function response(doc: ResponseDoc): Json {
  if (!doc.schema) return { description: doc.description };
  return {
    description: doc.description,
    content: { [doc.contentType ?? 'application/json']: { schema: jsonSchema(doc.schema, 'output') } },
  };
}

function requestBody(body: NonNullable<OperationDoc['body']>): Json {
  if (body instanceof z.ZodType)
    return { required: true, content: { 'application/json': { schema: jsonSchema(body, 'input') } } };
  return {
    required: true,
    description: body.description,
    content: Object.fromEntries(
      body.raw.map((type) => [type, { schema: { type: 'string', format: 'binary' } }]),
    ),
  };
}

/** Slicebox's description of the same route (path parameters may be named differently), if any. */
function sliceboxOperation(method: string, path: string): Json | undefined {
  if (!path.startsWith('/api/')) return undefined;
  const wanted = shape(path.slice('/api'.length));
  for (const [p, ops] of Object.entries(reference().paths as Json))
    if (shape(p) === wanted && (ops as Json)[method]) return structuredClone((ops as Json)[method]) as Json;
  return undefined;
}

/** The document for routes registered as `{ method, path }` (Hono's `app.routes`). */
export function openApiDocument(
  routes: ReadonlyArray<{ method: string; path: string }>,
  version: string,
): Json {
  const ref = reference();
  const paths: Json = {};
  const seen = new Set<string>();
  for (const route of routes) {
    // Middleware, and catch-alls that only answer 404 (`/api/*`), are not operations.
    if (route.method === 'ALL' || route.path.includes('*')) continue;
    const key = `${route.method} ${route.path}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const path = openApiPath(route.path);
    const method = route.method.toLowerCase();
    const doc = OPERATIONS[key];
    const op: Json = sliceboxOperation(method, path) ?? {};
    if (!doc && !Object.keys(op).length) continue; // undocumented: test/openapi.test.ts names it
    if (doc?.summary) op.summary = doc.summary;
    op.tags = doc?.tags ?? op.tags ?? [path.split('/')[2] ?? 'System'];
    op.operationId = `${method}${path.replace(/[{}]/g, '').replace(/[/.-](\w)/g, (_, c: string) => c.toUpperCase())}`;

    // Path parameters: ours, in order, whatever Slicebox called them.
    const names = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
    const theirs = ((op.parameters ?? []) as Json[]).filter((p) => p.in === 'path');
    const others = ((op.parameters ?? []) as Json[]).filter((p) => p.in !== 'path');
    const pathParams = names.map((name, i) => ({
      ...(theirs[i] ?? {
        schema: /id$/i.test(name) ? { type: 'integer', format: 'int64' } : { type: 'string' },
      }),
      name,
      in: 'path',
      required: true,
    }));
    const queryParams = doc?.query ? queryParameters(doc.query) : others;
    op.parameters = [...pathParams, ...queryParams];
    if (!op.parameters.length) delete op.parameters;

    if (doc?.body) op.requestBody = requestBody(doc.body);
    op.responses = { ...(op.responses ?? {}) };
    for (const [status, r] of Object.entries(doc?.responses ?? {})) op.responses[status] = response(r);

    const access = accessFor(route.method, route.path);
    op['x-sluice-access'] = access;
    if (access === 'PUBLIC') op.security = [];
    else {
      op.responses['401'] ??= {
        description:
          'No credentials, wrong ones or an ended session (WWW-Authenticate: Basic realm="Sluice")',
      };
      if (access === 'ADMINISTRATOR')
        op.responses['403'] ??= { description: 'The role ADMINISTRATOR is needed' };
    }
    if (!Object.keys(op.responses).some((s) => /^[23]/.test(s)))
      op.responses['200'] = { description: 'Done' };
    (paths[path] ??= {})[method] = op;
  }

  const schemas: Json = { ...structuredClone(ref.components.schemas) };
  // We never answer password hashes (Slicebox's `user` carried one).
  delete schemas.user?.properties?.hashedPassword;
  return {
    openapi: '3.1.0',
    info: {
      title: 'Sluice',
      version,
      description:
        'Streaming DICOM ingestion engine with a Slicebox-compatible REST API. Paths, fields and status codes of ' +
        "Slicebox's routes follow Slicebox; routes marked (ours) are additions.",
    },
    servers: [{ url: '/' }],
    security: [{ basicAuth: [] }, { sessionCookie: [] }],
    paths: Object.fromEntries(Object.entries(paths).sort(([a], [b]) => a.localeCompare(b))),
    components: {
      schemas,
      requestBodies: structuredClone(ref.components.requestBodies ?? {}),
      securitySchemes: {
        basicAuth: { type: 'http', scheme: 'basic' },
        sessionCookie: { type: 'apiKey', in: 'cookie', name: 'slicebox-session' },
      },
    },
  };
}
