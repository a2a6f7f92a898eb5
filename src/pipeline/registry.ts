import { z } from 'zod';
import type { ComponentDefinition, ComponentKind } from './component.js';

/** Components keyed by `type`, per kind. Built in the composition root from the kinds' index.ts lists. */
export class Registry {
  private readonly byKind = new Map<ComponentKind, Map<string, ComponentDefinition>>();
  constructor(definitions: readonly ComponentDefinition[]) {
    for (const kind of ['source', 'operator', 'sink'] as const) this.byKind.set(kind, new Map());
    for (const def of definitions) {
      const map = this.byKind.get(def.kind)!;
      if (map.has(def.type)) throw new Error(`duplicate ${def.kind} type "${def.type}"`);
      map.set(def.type, def);
    }
  }
  get(kind: ComponentKind, type: string): ComponentDefinition | undefined {
    return this.byKind.get(kind)!.get(type);
  }
  types(kind: ComponentKind): string[] {
    return [...this.byKind.get(kind)!.keys()].sort();
  }
  all(): ComponentDefinition[] {
    return [...this.byKind.values()].flatMap((m) => [...m.values()]);
  }

  /** The zod schema of one component entry in a pipeline file: its config plus `type`. */
  entrySchema(def: ComponentDefinition): z.ZodType {
    const config = def.config as unknown as z.ZodObject;
    return z
      .strictObject({ type: z.literal(def.type).describe(def.summary), ...config.shape })
      .describe(def.summary);
  }

  /** JSON Schema of a pipeline file, for editors (`sluice schema`). */
  jsonSchema(): unknown {
    const union = (kind: ComponentKind) => {
      const defs = this.all().filter((d) => d.kind === kind);
      const schemas = defs.map((d) => this.entrySchema(d));
      return schemas.length === 1 ? schemas[0] : z.union(schemas as [z.ZodType, z.ZodType, ...z.ZodType[]]);
    };
    const file = z.strictObject({
      name: z.string().describe('Pipeline name, unique among running pipelines'),
      description: z.string().optional().describe('What the pipeline is for'),
      max_in_flight: z.number().int().min(1).max(4096).optional().describe('Envelopes in flight at most'),
      sources: z.array(union('source')).min(1),
      operators: z.array(union('operator')).optional(),
      sinks: z.array(union('sink')).min(1),
    });
    return z.toJSONSchema(file, { io: 'input', unrepresentable: 'any' });
  }
}
