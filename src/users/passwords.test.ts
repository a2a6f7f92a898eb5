import { describe, expect, it } from 'vitest';
import { HASH_PREFIX, hashPassword, verifyPassword } from './passwords.js';

describe('password hashing', () => {
  it('hashes with scrypt into a self-describing string with a random salt', async () => {
    const a = await hashPassword('correct horse');
    const b = await hashPassword('correct horse');
    expect(a).toMatch(/^scrypt\$32768\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    expect(a.startsWith(HASH_PREFIX)).toBe(true);
    expect(a).not.toBe(b);
    expect(a).not.toContain('correct horse');
  });

  it('verifies the right password only', async () => {
    const hash = await hashPassword('pässword');
    expect(await verifyPassword('pässword', hash)).toBe(true);
    // The same text in another Unicode normal form is the same password.
    expect(await verifyPassword('pa\u0308ssword', hash)).toBe(true);
    expect(await verifyPassword('password', hash)).toBe(false);
    expect(await verifyPassword('', hash)).toBe(false);
  });

  it('reads the cost from the hash, so stronger parameters can come later', async () => {
    const cheap = await hashPassword('x', { N: 2 ** 10, r: 8, p: 1 });
    expect(cheap.startsWith('scrypt$1024$8$1$')).toBe(true);
    expect(await verifyPassword('x', cheap)).toBe(true);
  });

  it('answers false, not an error, for malformed or absurd hashes', async () => {
    const good = await hashPassword('x', { N: 2 ** 10, r: 8, p: 1 });
    for (const bad of [
      '',
      'x',
      '$2a$10$abcdefghijklmnopqrstuu',
      good.replace('$1024$', '$1000$'),
      good.replace('$1024$', '$1073741824$'),
      good.replace(/\$[^$]+$/, '$AAAA'),
    ])
      expect(await verifyPassword('x', bad), bad).toBe(false);
  });
});
