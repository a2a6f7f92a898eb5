/**
 * Every part of the state store, with its SQLite and its PostgreSQL implementation: a new capability adds one
 * line here (in an order where tables come after those they reference). Both adapters combine the parts
 * listed here, refusing two that define the same method.
 */
import type { StatePart } from './sqlite-state-part.js';
import type { PgStatePart } from './postgres-state/part.js';
import { users } from '../users/sqlite-store.js';
import { users as pgUsers } from '../users/postgres-store.js';
import { seriesTypes } from '../series-types/sqlite-store.js';
import { seriesTypes as pgSeriesTypes } from '../series-types/postgres-store.js';
import { tagFilters } from '../tag-filters/sqlite-store.js';
import { tagFilters as pgTagFilters } from '../tag-filters/postgres-store.js';
import { managedSources } from '../managed-sources/sqlite-store.js';
import { managedSources as pgManagedSources } from '../managed-sources/postgres-store.js';
import { exportSets } from '../export/sqlite-store.js';
import { exportSets as pgExportSets } from '../export/postgres-store.js';
import { log } from '../log/sqlite-store.js';
import { log as pgLog } from '../log/postgres-store.js';
import { scus } from '../forwarding/sqlite-scus.js';
import { scus as pgScus } from '../forwarding/postgres-scus.js';
import { forwarding } from '../forwarding/sqlite-store.js';
import { forwarding as pgForwarding } from '../forwarding/postgres-store.js';
import { anonymizationKeys } from '../anonymization/sqlite-store.js';
import { anonymizationKeys as pgAnonymizationKeys } from '../anonymization/postgres-store.js';
import { boxes } from '../boxes/sqlite-store.js';
import { boxes as pgBoxes } from '../boxes/postgres-store.js';

export const STATE_PARTS: Record<string, { sqlite: StatePart<object>; postgres: PgStatePart<object> }> = {
  users: { sqlite: users, postgres: pgUsers },
  seriesTypes: { sqlite: seriesTypes, postgres: pgSeriesTypes },
  tagFilters: { sqlite: tagFilters, postgres: pgTagFilters },
  managedSources: { sqlite: managedSources, postgres: pgManagedSources },
  exportSets: { sqlite: exportSets, postgres: pgExportSets },
  log: { sqlite: log, postgres: pgLog },
  scus: { sqlite: scus, postgres: pgScus },
  forwarding: { sqlite: forwarding, postgres: pgForwarding },
  anonymizationKeys: { sqlite: anonymizationKeys, postgres: pgAnonymizationKeys },
  boxes: { sqlite: boxes, postgres: pgBoxes },
};

/**
 * Merges the parts' methods into one object, refusing two parts that define the same name (one would
 * silently replace the other's method).
 */
export function combineParts(parts: Array<[string, object]>, own: object): object {
  const owner = new Map<string, string>();
  const combined: Record<string, unknown> = {};
  for (const [name, methods] of [...parts, ['state store', own] as [string, object]])
    for (const [key, value] of Object.entries(methods)) {
      const first = owner.get(key);
      if (first) throw new Error(`state store parts "${first}" and "${name}" both define ${key}`);
      owner.set(key, name);
      combined[key] = value;
    }
  return combined;
}
