// `npm install`'s prepare step: builds the web UI into dist/ui. Without Vite (an install without dev
// dependencies) it says so and leaves the engine to answer `/` with how to build it.
import { performance } from 'node:perf_hooks';

let vite;
try {
  vite = await import('vite');
} catch {
  console.warn('sluice: vite is not installed, the web UI is not built (npm install, then npm run build:ui)');
  process.exit(0);
}
const started = performance.now();
await vite.build({ configFile: new URL('./vite.config.ts', import.meta.url).pathname });
console.log(`sluice: web UI built into dist/ui in ${((performance.now() - started) / 1000).toFixed(1)} s`);
