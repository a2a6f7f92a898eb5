import { z } from 'zod';
import { BadRequestError } from '../errors.js';

export const DEFAULT_COUNT = 20;
export const MAX_COUNT = 10_000;

const nonNegative = z
  .string()
  .regex(/^\d{1,15}$/, 'expected a non-negative integer')
  .transform(Number);

/** Slicebox's paging query parameters. */
export const pagingParams = z.object({
  startindex: nonNegative.default(0).describe('Index of the first row'),
  count: nonNegative
    .refine((n) => n <= MAX_COUNT, `must be at most ${MAX_COUNT}`)
    .default(DEFAULT_COUNT)
    .describe('Rows to answer'),
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

/** Reads a JSON body, 400 with a message when it is not JSON. */
export async function jsonBody(req: { text(): Promise<string> }): Promise<unknown> {
  const text = await req.text();
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new BadRequestError(`Malformed JSON body: ${(err as Error).message}`);
  }
}
