#!/usr/bin/env node
// The `sluice` command: runs the compiled engine (dist/server, made by `npm run build`, which `npm install`
// and `npm pack` run). A checkout that was never built falls back to the TypeScript sources through tsx.
import { existsSync } from 'node:fs';

process.setSourceMapsEnabled(true);

const compiled = new URL('../dist/server/cli.js', import.meta.url);
if (existsSync(compiled)) await import(compiled.href);
else {
  let register;
  try {
    ({ register } = await import('tsx/esm/api'));
  } catch {
    process.stderr.write('sluice: not built and tsx is not installed: run `npm run build` in the package\n');
    process.exit(1);
  }
  register();
  await import('../src/cli.ts');
}
