/**
 * Serves the web UI (built by Vite from ./web into dist/ui by `npm install`'s prepare step) at every GET path
 * outside /api: files as they are, anything else the single page's index.html, which routes in the browser.
 * The assets are public, as any login page's are; every piece of data comes from /api, which stays protected.
 * Without a build the engine still runs and `/` says how to build the UI.
 */
import { readFile, stat } from 'node:fs/promises';
import { extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Hono, type Context } from 'hono';

/** Where `npm run build:ui` writes the UI (gitignored). */
export const UI_DIR = fileURLToPath(new URL('../../dist/ui/', import.meta.url));

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

/** The page may load only its own scripts and talk only to its own origin; nobody may frame it. */
const SECURITY_HEADERS: Record<string, string> = {
  'Content-Security-Policy':
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; " +
    "connect-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'; form-action 'self'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'same-origin',
};

const NOT_BUILT = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sluice</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 3em auto">
<h1>Sluice is running, but its web UI is not built</h1>
<p>The UI is built into <code>dist/ui</code> by <code>npm install</code> (its <code>prepare</code> step), or by hand
with <code>npm run build:ui</code>. The REST API works without it, under <a href="/api/system/information">/api</a>.</p>
</body></html>`;

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

function send(c: Context, body: Uint8Array | string, type: string, cache: string, status: 200 | 503 = 200) {
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) c.header(name, value);
  c.header('Content-Type', type);
  c.header('Cache-Control', cache);
  return c.body(body as Uint8Array<ArrayBuffer>, status);
}

/**
 * `GET /api/*` that no API route answered stays a 404 for authenticated callers (and a 401 for others, as
 * before the UI existed); every other GET path is the UI's.
 */
export function uiRoutes(dir: string = UI_DIR): Hono {
  const root = resolve(dir);
  return new Hono()
    .get('/api/*', (c) => c.text(`No route for ${c.req.method} ${c.req.path}`, 404))
    .get('/', (c) => page(c, root))
    .get(UI_PATH, (c) => page(c, root));
}

/** Every path below `/` (the policy names this route exactly, so no other route can be public by accident). */
export const UI_PATH = '/:path{.+}';

async function page(c: Context, root: string): Promise<Response> {
  const index = join(root, 'index.html');
  if (!(await isFile(index))) return send(c, NOT_BUILT, CONTENT_TYPES['.html']!, 'no-store', 503);
  let path: string;
  try {
    path = decodeURIComponent(c.req.path);
  } catch {
    return c.text('Malformed path', 400);
  }
  const file = resolve(root, '.' + path);
  const inside = file.startsWith(root + sep);
  const type = CONTENT_TYPES[extname(file).toLowerCase()];
  if (inside && type && (await isFile(file))) {
    // Vite names everything under assets/ by its content hash: cache it for good.
    const immutable = file.startsWith(join(root, 'assets') + sep);
    return send(
      c,
      await readFile(file),
      type,
      immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
    );
  }
  // A missing file (with an extension) is a 404; any other path is a page of the single-page app.
  if (extname(path)) return c.text(`No file ${path}`, 404);
  return send(c, await readFile(index), CONTENT_TYPES['.html']!, 'no-cache');
}
