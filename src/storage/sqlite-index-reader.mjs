// Worker threads do not inherit tsx's loader when the parent was not started by tsx (vitest): register it
// here, as bin/sluice.mjs does, then load the TypeScript reader.
import { register } from 'tsx/esm/api';
register();
await import('./sqlite-index-reader.ts');
