import { z } from 'zod';
import { BadRequestError, SluiceError } from '../errors.js';

export const DEFAULT_COUNT = 20;
export const MAX_COUNT = 10_000;

/** The largest start index: beyond it a number is no longer exact in JavaScript (nor useful as an offset). */
export const MAX_START_INDEX = 999_999_999_999_999;

/**
 * A non-negative integer of at most `max`, with one message that says which rule it broke (a huge number
 * is not "negative", and the limit named is the real one).
 */
const boundedInteger = (max: number) =>
  z.string().transform((value, ctx) => {
    if (!/^\d+$/.test(value)) {
      ctx.addIssue({
        code: 'custom',
        message: `expected a non-negative integer, got "${value.slice(0, 32)}"`,
      });
      return z.NEVER;
    }
    const n = Number(value);
    if (value.length > 16 || n > max) {
      ctx.addIssue({ code: 'custom', message: `must be at most ${max}, got ${value.slice(0, 32)}` });
      return z.NEVER;
    }
    return n;
  });

/** Slicebox's paging query parameters. */
export const pagingParams = z.object({
  startindex: boundedInteger(MAX_START_INDEX).default(0).describe('Index of the first row'),
  count: boundedInteger(MAX_COUNT).default(DEFAULT_COUNT).describe('Rows to answer'),
});

/** Parses a route `:id` as a positive integer, or 400. */
export function idParam(value: string | undefined, name = 'id'): number {
  if (!value || !/^\d{1,15}$/.test(value))
    throw new BadRequestError(`${name} must be a positive integer, got "${value ?? ''}"`);
  return Number(value);
}

/** Validates with zod and turns failures into a 400 naming the field. */
export function parseOr400<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const r = schema.safeParse(value);
  if (!r.success)
    throw new BadRequestError(
      `${what}: ${r.error.issues.map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message)).join('; ')}`,
    );
  return r.data;
}

/** The largest JSON body a route reads (queries, rules, id lists…): a few hundred KB at most in real use. */
export const MAX_JSON_BODY = 1024 * 1024;

/**
 * The request body, refused with 413 as soon as it passes `limit` bytes (a declared Content-Length over
 * it is refused before anything is read), so an oversized body is never held in memory.
 */
export async function readLimited(req: Request, limit: number): Promise<Buffer> {
  const declared = Number(req.headers.get('content-length') ?? NaN);
  const tooLarge = () => new SluiceError('API.TOO_LARGE', `request body is larger than ${limit} bytes`, 413);
  if (declared > limit) throw tooLarge();
  if (!req.body) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req.body as unknown as AsyncIterable<Uint8Array>) {
    size += chunk.length;
    if (size > limit) throw tooLarge();
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks);
}

/** Parses JSON text, 400 with a message when it is not JSON. */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new BadRequestError(`Malformed JSON body: ${(err as Error).message}`);
  }
}

/** Reads a JSON body of at most MAX_JSON_BODY bytes: 413 past it, 400 when it is not JSON. */
export async function jsonBody(req: { raw: Request }): Promise<unknown> {
  return parseJson((await readLimited(req.raw, MAX_JSON_BODY)).toString('utf8'));
}
