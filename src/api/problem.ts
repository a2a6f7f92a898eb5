import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { SluiceError } from '../errors.js';
import { logger } from '../ops/logger.js';

const log = logger('api');

/**
 * The one place where errors become HTTP responses. Slicebox answers errors as plain text; so do we,
 * with the stable error code in a header for programs.
 */
export function onError(err: Error, c: Context): Response {
  if (err instanceof HTTPException) return err.getResponse();
  if (err instanceof SluiceError) {
    c.header('X-Sluice-Error', err.code);
    return c.text(err.message, err.httpStatus as ContentfulStatusCode);
  }
  if (err instanceof SyntaxError) return c.text(`Malformed JSON: ${err.message}`, 400);
  log.error({ err, method: c.req.method, path: c.req.path }, 'unhandled API error');
  return c.text('Internal server error', 500);
}
