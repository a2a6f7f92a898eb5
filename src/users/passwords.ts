/**
 * Password hashing with scrypt, a memory-hard function in Node's crypto. A hash is a self-describing string,
 * `scrypt$N$r$p$salt$hash` (salt and hash in base64url), so the cost can be raised later without breaking
 * stored hashes. Slicebox used bcrypt and served the hashes from `GET /users`; ours never leave the store.
 */
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

export const HASH_PREFIX = 'scrypt$';

/** 2^15 × 8 × 128 bytes = 32 MiB and ~70 ms per hash on our 2-core machines. */
const DEFAULT_COST = { N: 2 ** 15, r: 8, p: 1 } as const;
const SALT_BYTES = 16;
const KEY_BYTES = 32;
/** Bounds on parameters read from a stored hash, so a corrupt row cannot ask for gigabytes. */
const MAX_N = 2 ** 20;
const MAX_RP = 64;

function derive(password: string, salt: Buffer, keyLength: number, cost: ScryptOptions): Promise<Buffer> {
  const { N = DEFAULT_COST.N, r = DEFAULT_COST.r, p = DEFAULT_COST.p } = cost;
  // Node refuses more than 32 MiB unless told; allow what the parameters need, with room.
  const maxmem = 256 * N * r * p;
  return new Promise((resolve, reject) =>
    scrypt(password.normalize('NFC'), salt, keyLength, { N, r, p, maxmem }, (err, key) =>
      err ? reject(err) : resolve(key),
    ),
  );
}

export async function hashPassword(password: string, cost: ScryptOptions = DEFAULT_COST): Promise<string> {
  const { N = DEFAULT_COST.N, r = DEFAULT_COST.r, p = DEFAULT_COST.p } = cost;
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(password, salt, KEY_BYTES, { N, r, p });
  return `${HASH_PREFIX}${N}$${r}$${p}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

/** Constant-time comparison; false for a malformed hash rather than an error. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const m = /^scrypt\$(\d{1,8})\$(\d{1,3})\$(\d{1,3})\$([A-Za-z0-9_-]+)\$([A-Za-z0-9_-]+)$/.exec(stored);
  if (!m) return false;
  const [N, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (N < 2 || N > MAX_N || (N & (N - 1)) !== 0 || r < 1 || r > MAX_RP || p < 1 || p > MAX_RP) return false;
  const expected = Buffer.from(m[5], 'base64url');
  if (expected.length < 16) return false;
  const key = await derive(password, Buffer.from(m[4], 'base64url'), expected.length, { N, r, p });
  return timingSafeEqual(key, expected);
}
