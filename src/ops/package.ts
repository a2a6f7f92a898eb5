/**
 * Where Sluice itself is installed, found from this file (in `src/` when run from the sources, in `dist/`
 * when compiled, inside `node_modules/sluice` when installed): default pipeline files and the version come
 * from there, never from the working directory.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'pipelines'))) return dir;
    if (dirname(dir) === dir) throw new Error(`no Sluice package above ${from}`);
  }
}

export const PACKAGE_ROOT = findRoot(dirname(fileURLToPath(import.meta.url)));

export const PACKAGE_VERSION: string = (
  JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }
).version;
