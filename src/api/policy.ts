/**
 * Who may call what: the one route → role table, applied once to the whole app (src/api/app.ts). A route
 * that is not listed needs USER to read (GET, HEAD) and ADMINISTRATOR for anything else, so a new route is
 * born protected. The README's table is this one; keep them together.
 */
import type { Role } from '../users/store.js';

/** PUBLIC: no credentials needed (the route may still look at them, as `GET /api/users/current` does). */
export type Access = 'PUBLIC' | Role;

export interface RouteRule {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** A path as routes register it (`/api/images/:id`); `*` stands for any one segment. */
  path: string;
  access: Access;
  /** Public to callers on loopback when the operator opts in (SLUICE_METRICS_OPEN_ON_LOOPBACK). */
  openOnLoopback?: boolean;
}

/** The routes a remote box calls, authenticated by the token in their path instead of a user. */
export const TOKEN_ROUTES: ReadonlyArray<Pick<RouteRule, 'method' | 'path'>> = [
  { method: 'POST', path: '/api/transactions/*/image' },
  { method: 'GET', path: '/api/transactions/*/status' },
  { method: 'PUT', path: '/api/transactions/*/status' },
  { method: 'GET', path: '/api/transactions/*/outgoing/poll' },
  { method: 'GET', path: '/api/transactions/*/outgoing' },
  { method: 'POST', path: '/api/transactions/*/outgoing/done' },
  { method: 'POST', path: '/api/transactions/*/outgoing/failed' },
];

export const ROUTE_POLICY: readonly RouteRule[] = [
  // Slicebox's public routes.
  { method: 'GET', path: '/api/system/health', access: 'PUBLIC' },
  { method: 'GET', path: '/api/system/information', access: 'PUBLIC' },
  { method: 'POST', path: '/api/users/login', access: 'PUBLIC' },
  { method: 'GET', path: '/api/users/current', access: 'PUBLIC' },
  // Ours, for supervisors and tools: readiness (liveness is /api/system/health) and the OpenAPI document.
  { method: 'GET', path: '/api/system/ready', access: 'PUBLIC' },
  { method: 'GET', path: '/api/openapi.json', access: 'PUBLIC' },
  // Prometheus: protected like the API; a scraper on the same machine may be let in without credentials.
  { method: 'GET', path: '/metrics', access: 'USER', openOnLoopback: true },
  // The box protocol: no user, the box token in the path authenticates (401 for a token of no POLL box).
  ...TOKEN_ROUTES.map((r) => ({ ...r, access: 'PUBLIC' as const })),
  // The web UI's files and pages (src/ui/server.ts): every GET outside /api, whose data needs a login.
  { method: 'GET', path: '/', access: 'PUBLIC' },
  { method: 'GET', path: '/:path{.+}', access: 'PUBLIC' },

  // Users: only administrators see the list or change it (Slicebox let any user list it, with hashes).
  { method: 'POST', path: '/api/users/logout', access: 'USER' },
  { method: 'GET', path: '/api/users', access: 'ADMINISTRATOR' },
  { method: 'POST', path: '/api/users', access: 'ADMINISTRATOR' },
  { method: 'DELETE', path: '/api/users/:id', access: 'ADMINISTRATOR' },

  // Writes a USER may make: uploads and metadata queries (a POST that only reads).
  { method: 'POST', path: '/api/images', access: 'USER' },
  { method: 'POST', path: '/api/images/jpeg', access: 'USER' },
  { method: 'POST', path: '/api/images/export', access: 'USER' },
  { method: 'POST', path: '/api/metadata/*/query', access: 'USER' },
  { method: 'POST', path: '/api/seriestypes/series/query', access: 'USER' },
  { method: 'POST', path: '/api/seriestypes/rules/updatestatus', access: 'USER' },
  // Import sessions are a user's own uploads (Slicebox: not admin-only); deleting another's session is 403.
  { method: 'POST', path: '/api/import/sessions', access: 'USER' },
  { method: 'POST', path: '/api/import/sessions/:id/images', access: 'USER' },
  { method: 'DELETE', path: '/api/import/sessions/:id', access: 'USER' },
  // Anonymization as Slicebox allows it to users: an anonymized download (records a key), key queries.
  { method: 'POST', path: '/api/images/:id/anonymized', access: 'USER' },
  { method: 'POST', path: '/api/anonymization/keys/query', access: 'USER' },
  // DICOMweb: STOW-RS stores as an upload does (POST /api/images).
  { method: 'POST', path: '/dicom-web/studies', access: 'USER' },
  { method: 'POST', path: '/dicom-web/studies/:study', access: 'USER' },

  // Deletions are for administrators (Slicebox let any user delete images); listed so the README shows them.
  { method: 'DELETE', path: '/api/images/:id', access: 'ADMINISTRATOR' },
  { method: 'POST', path: '/api/images/delete', access: 'ADMINISTRATOR' },
  { method: 'DELETE', path: '/api/quarantine/:id', access: 'ADMINISTRATOR' },
  { method: 'POST', path: '/api/quarantine/:id/requeue', access: 'ADMINISTRATOR' },
  // Rewrites a stored instance in place.
  { method: 'PUT', path: '/api/images/:id/modify', access: 'ADMINISTRATOR' },
  // Anonymizing in place deletes the original; keys map pseudonyms back to patients.
  { method: 'PUT', path: '/api/images/:id/anonymize', access: 'ADMINISTRATOR' },
  { method: 'POST', path: '/api/anonymization/anonymize', access: 'ADMINISTRATOR' },
  { method: 'DELETE', path: '/api/anonymization/keys/:id', access: 'ADMINISTRATOR' },
  { method: 'GET', path: '/api/anonymization/keys/export/csv', access: 'ADMINISTRATOR' },
];

export function defaultAccess(method: string): Access {
  return method === 'GET' || method === 'HEAD' ? 'USER' : 'ADMINISTRATOR';
}

function pathMatches(pattern: string, path: string): boolean {
  const want = pattern.split('/');
  const got = path.split('/');
  return want.length === got.length && want.every((segment, i) => segment === '*' || segment === got[i]);
}

const ruleFor = (method: string, routePath: string) => {
  const m = method === 'HEAD' ? 'GET' : method;
  return ROUTE_POLICY.find((rule) => rule.method === m && pathMatches(rule.path, routePath));
};

/** The access a registered route needs: its rule's, else the default for its method. */
export function accessFor(method: string, routePath: string): Access {
  return ruleFor(method, routePath)?.access ?? defaultAccess(method);
}

/** Whether a route may be opened to loopback callers (when the operator opts in). */
export function opensOnLoopback(method: string, routePath: string): boolean {
  return ruleFor(method, routePath)?.openOnLoopback === true;
}
