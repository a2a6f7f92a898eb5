/**
 * The per-installation secret that anonymized UIDs, pseudonyms and date shifts derive from: 32 random bytes
 * in `<data dir>/anonymization.secret` (mode 0600), made on first start. Losing it does not lose keys, but
 * re-sending an instance after that gives new UIDs; copying it to another installation makes that one
 * anonymize the same way.
 */
import { randomBytes } from 'node:crypto';
import { open, readFile } from 'node:fs/promises';

export async function loadOrCreateSecret(path: string): Promise<Buffer> {
  try {
    const secret = await readFile(path);
    if (secret.length < 16)
      throw new Error(`${path} holds ${secret.length} bytes; a secret needs at least 16`);
    return secret;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const secret = randomBytes(32);
  // 'wx': two processes starting at once cannot both write one.
  try {
    const handle = await open(path, 'wx', 0o600);
    try {
      await handle.writeFile(secret);
      await handle.sync();
    } finally {
      await handle.close();
    }
    return secret;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return readFile(path);
    throw err;
  }
}
