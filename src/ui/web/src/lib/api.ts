/**
 * The one way the UI talks to the engine: `/api` with the session cookie. Every failure becomes an
 * ApiError whose message a person can act on; nothing fails silently.
 */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    /** The server's own words (plain text, Slicebox style), for the details line. */
    readonly detail = '',
    readonly code?: string,
  ) {
    super(message);
  }
}

type Listener = () => void;
const sessionEndedListeners = new Set<Listener>();
/** Called when the API answers 401 to a logged-in page: the session ended (timeout, logout elsewhere). */
export function onSessionEnded(listener: Listener): () => void {
  sessionEndedListeners.add(listener);
  return () => sessionEndedListeners.delete(listener);
}

/** Turns an HTTP status and the server's text into a sentence for people. */
export function describeFailure(status: number, detail: string, what?: string): string {
  const text = detail.trim();
  const doing = what ? `${what}: ` : '';
  switch (status) {
    case 0:
      return `${doing}cannot reach the Sluice server. Check that it is running and that this computer can reach it.`;
    case 400:
      return `${doing}the server refused the request. ${text || 'The input is not valid.'}`;
    case 401:
      return text.startsWith('Invalid username')
        ? 'Wrong user name or password.'
        : 'Your session has ended. Please log in again.';
    case 403:
      return `${doing}you are not allowed to do this: it needs an administrator.`;
    case 404:
      return `${doing}not found. ${text ? `(${text}) ` : ''}It may have been deleted in the meantime.`;
    case 409:
      return `${doing}conflict. ${text}`;
    case 413:
      return `${doing}the file or request is too large. ${text}`;
    case 429:
      return text || 'Too many failed logins; please wait before trying again.';
    case 501:
      return `${doing}this cannot be shown. ${text}`;
    case 502:
      return `${doing}the remote DICOM node or box failed. ${text}`;
    case 503:
      return `${doing}the server is busy or this feature is not running. ${text}`;
    default:
      return status >= 500
        ? `${doing}the server hit an unexpected error (HTTP ${status}). The log may say more.`
        : `${doing}HTTP ${status}. ${text}`;
  }
}

export interface RequestOptions {
  method?: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** JSON-encoded unless it is a Blob/File/ArrayBuffer/FormData. */
  body?: unknown;
  /** Used at the start of the error message ("Deleting images: …"). */
  what?: string;
  signal?: AbortSignal;
}

/** Calls `/api${path}`; answers the parsed JSON, the text, or undefined for an empty answer. */
export async function api<T = unknown>(path: string, opts: RequestOptions = {}): Promise<T> {
  const { method = opts.body === undefined ? 'GET' : 'POST', body, what, signal } = opts;
  const raw =
    body instanceof Blob || body instanceof ArrayBuffer || body instanceof FormData || body === undefined;
  let response: Response;
  try {
    response = await fetch(`/api${path}`, {
      method,
      credentials: 'same-origin',
      headers: raw ? undefined : { 'Content-Type': 'application/json' },
      body: raw ? (body as BodyInit | undefined) : JSON.stringify(body),
      signal,
    });
  } catch (err) {
    if ((err as Error).name === 'AbortError') throw err;
    throw new ApiError(describeFailure(0, '', what), 0);
  }
  if (!response.ok) {
    const detail = await response.text().catch(() => '');
    if (response.status === 401 && path !== '/users/login') sessionEndedListeners.forEach((l) => l());
    throw new ApiError(
      describeFailure(response.status, detail, what),
      response.status,
      detail,
      response.headers.get('X-Sluice-Error') ?? undefined,
    );
  }
  if (response.status === 204) return undefined as T;
  const type = response.headers.get('content-type') ?? '';
  if (type.includes('json')) return (await response.json()) as T;
  const text = await response.text();
  return (text === '' ? undefined : text) as T;
}

/** A query string from defined, non-empty values. */
export function qs(params: Record<string, string | number | boolean | undefined | null>): string {
  const s = new URLSearchParams();
  for (const [k, v] of Object.entries(params))
    if (v !== undefined && v !== null && v !== '') s.set(k, String(v));
  const out = s.toString();
  return out ? `?${out}` : '';
}

/** Human text for any thrown value. */
export function errorMessage(err: unknown): string {
  if (err instanceof ApiError) return err.message;
  if (err instanceof Error) return err.message;
  return String(err);
}
