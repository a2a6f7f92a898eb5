/**
 * Rendering routes: Slicebox's `GET /images/{id}/png` and `GET /images/{id}/imageinformation`, and our
 * `GET /series/{id}/thumbnail`. The work runs in the render pool's worker threads (src/render).
 */
import { Hono } from 'hono';
import { z } from 'zod';
import type { ApiDeps } from '../deps.js';
import type { AuthEnv } from '../auth.js';
import { idParam, parseOr400 } from '../params.js';
import { BadRequestError, SluiceError } from '../../errors.js';

/** Largest `imageheight` we scale to: a bigger one is a mistake or an attempt to exhaust memory. */
export const MAX_IMAGE_HEIGHT = 8192;

const number = (name: string) =>
  z
    .string()
    .trim()
    .regex(/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/, `${name} must be a number`)
    .transform(Number);

export const pngParams = z.object({
  framenumber: z
    .string()
    .regex(/^\d{1,9}$/, 'framenumber must be a positive integer')
    .transform(Number)
    .refine((n) => n >= 1, 'framenumber must be at least 1 (frames count from 1)')
    .default(1),
  windowmin: number('windowmin').default(0),
  windowmax: number('windowmax').default(0),
  imageheight: z
    .string()
    .regex(/^\d{1,9}$/, 'imageheight must be a non-negative integer')
    .transform(Number)
    .refine((n) => n <= MAX_IMAGE_HEIGHT, `imageheight must be at most ${MAX_IMAGE_HEIGHT}`)
    .default(0),
});

export function renderRoutes(deps: ApiDeps): Hono<AuthEnv> {
  const renderer = () => {
    if (!deps.renderer)
      throw new SluiceError('RENDER.UNAVAILABLE', 'rendering is not configured in this process', 503);
    return deps.renderer;
  };
  return new Hono<AuthEnv>()
    .get('/images/:id/png', async (c) => {
      const id = idParam(c.req.param('id'));
      const q = parseOr400(pngParams, c.req.query(), 'query parameters');
      // Slicebox: windowmin = windowmax = 0 means "no window given".
      let window: { min: number; max: number } | undefined;
      if (q.windowmin !== 0 || q.windowmax !== 0) {
        if (!(q.windowmax > q.windowmin))
          throw new BadRequestError(
            `windowmax (${q.windowmax}) must be greater than windowmin (${q.windowmin}); omit both for the default window`,
          );
        window = { min: q.windowmin, max: q.windowmax };
      }
      const { png } = await renderer().png(id, {
        frame: q.framenumber,
        window,
        height: q.imageheight || undefined,
      });
      return c.body(png as Uint8Array<ArrayBuffer>, 200, {
        'Content-Type': 'image/png',
        'Content-Length': String(png.length),
      });
    })
    .get('/images/:id/imageinformation', async (c) =>
      c.json(await renderer().information(idParam(c.req.param('id')))),
    )
    .get('/series/:id/thumbnail', async (c) => {
      const png = await renderer().thumbnail(idParam(c.req.param('id')));
      return c.body(png as Uint8Array<ArrayBuffer>, 200, {
        'Content-Type': 'image/png',
        'Content-Length': String(png.length),
      });
    });
}
