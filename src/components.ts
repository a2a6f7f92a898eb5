import { Registry } from './core/registry.js';
import { sources } from './sources/index.js';
import { operators } from './operators/index.js';
import { sinks } from './sinks/index.js';

/** Every component the engine knows, keyed by type. */
export const registry = new Registry([...sources, ...operators, ...sinks]);
