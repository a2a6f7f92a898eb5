/**
 * Loading pipeline files: YAML parsed with positions, validated against the registry with zod.
 * Every error reads `file:line:col path: message`.
 */
import { readFile } from 'node:fs/promises';
import { isMap, isScalar, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import { z } from 'zod';
import type { ComponentDefinition, ComponentKind } from './component.js';
import type { Registry } from './registry.js';
import { checkFactOrder, type FactContract, type FactName } from './facts.js';
import { didYouMean, knownKeys } from './nearest.js';

export interface ComponentEntry {
  kind: ComponentKind;
  /** `sources[0]`, `operators[2]`, … */
  path: string;
  def: ComponentDefinition;
  config: unknown;
}

export interface PipelineSpec {
  file: string;
  name: string;
  description?: string;
  maxInFlight: number;
  sources: ComponentEntry[];
  operators: ComponentEntry[];
  sinks: ComponentEntry[];
}

export class PipelineFileError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
    this.name = 'PipelineFileError';
  }
}

const fileSchema = z.strictObject({
  name: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'lower case letters, digits, "-" and "_", at most 64 characters'),
  description: z.string().optional(),
  max_in_flight: z.number().int().min(1).max(4096).default(64),
  sources: z.array(z.unknown()).min(1, 'a pipeline needs at least one source'),
  operators: z.array(z.unknown()).default([]),
  sinks: z.array(z.unknown()).min(1, 'a pipeline needs at least one sink'),
});

const SECTIONS: Array<['sources' | 'operators' | 'sinks', ComponentKind]> = [
  ['sources', 'source'],
  ['operators', 'operator'],
  ['sinks', 'sink'],
];

function formatPath(path: readonly PropertyKey[]): string {
  return path
    .map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`))
    .join('');
}

export function parsePipeline(text: string, file: string, registry: Registry): PipelineSpec {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const where = (offset: number | undefined) => {
    if (offset === undefined) return `${file}:1:1`;
    const { line, col } = lineCounter.linePos(offset);
    return `${file}:${line}:${col}`;
  };
  if (doc.errors.length)
    throw new PipelineFileError(doc.errors.map((e) => `${where(e.pos[0])} ${e.message.split('\n')[0]}`));

  const problems: string[] = [];
  const locate = (path: readonly PropertyKey[], key?: string): number | undefined => {
    const segments = path.map((p) => (typeof p === 'symbol' ? String(p) : p));
    for (let n = segments.length; n >= 0; n--) {
      const node = doc.getIn(segments.slice(0, n), true) as Node | undefined;
      if (!node) continue;
      if (key && n === segments.length && isMap(node)) {
        const pair = node.items.find((it) => isScalar(it.key) && it.key.value === key);
        if (pair && isScalar(pair.key)) return pair.key.range?.[0];
      }
      return node.range?.[0];
    }
    return undefined;
  };
  const report = (base: readonly PropertyKey[], issues: z.core.$ZodIssue[], schema: z.ZodType) => {
    for (const issue of issues) {
      const path = [...base, ...issue.path];
      if (issue.code === 'unrecognized_keys') {
        const known = knownKeys(schema, issue.path);
        for (const key of issue.keys)
          problems.push(
            `${where(locate(path, key))} ${formatPath([...path, key])}: unknown key "${key}"${didYouMean(key, known)}`,
          );
      } else problems.push(`${where(locate(path))} ${formatPath(path) || '(file)'}: ${issue.message}`);
    }
  };

  const raw = (doc as Document).toJS() as unknown;
  const top = fileSchema.safeParse(raw ?? {});
  if (!top.success) report([], top.error.issues, fileSchema);
  const data = (top.success ? top.data : (raw ?? {})) as Record<string, unknown>;
  const spec: PipelineSpec = {
    file,
    name: String(data.name ?? ''),
    description: data.description as string | undefined,
    maxInFlight: Number(data.max_in_flight ?? 64),
    sources: [],
    operators: [],
    sinks: [],
  };
  // Components are checked even when the file-level fields are wrong, so one run reports everything.
  for (const [section, kind] of SECTIONS) {
    const entries = data[section];
    if (!Array.isArray(entries)) continue;
    entries.forEach((entry, i) => {
      const path = [section, i];
      const type = (entry as { type?: unknown } | null)?.type;
      if (typeof type !== 'string') {
        problems.push(
          `${where(locate(path))} ${formatPath(path)}: missing "type" (known ${kind} types: ${registry.types(kind).join(', ')})`,
        );
        return;
      }
      const def = registry.get(kind, type);
      if (!def) {
        problems.push(
          `${where(locate([...path, 'type']))} ${formatPath([...path, 'type'])}: unknown ${kind} type "${type}"${didYouMean(type, registry.types(kind))} (known: ${registry.types(kind).join(', ') || 'none'})`,
        );
        return;
      }
      // The component's own schema (with its refinements) checks everything but `type`.
      const { type: _type, ...rest } = entry as Record<string, unknown>;
      const result = (def.config as z.ZodType).safeParse(rest);
      if (!result.success) {
        report(path, result.error.issues, def.config as z.ZodType);
        return;
      }
      spec[section].push({ kind, path: formatPath(path), def, config: result.data });
    });
  }
  // The order must work: each operator and sink finds the facts it requires established before it.
  const steps = [...spec.operators, ...spec.sinks].map((entry) => ({
    ...(entry.def as FactContract),
    type: entry.def.type,
    path: entry.path,
  }));
  const providersOf = (fact: FactName) =>
    registry
      .all()
      .filter((d) => d.kind !== 'source' && d.provides?.includes(fact))
      .map((d) => d.type);
  for (const problem of checkFactOrder(steps, providersOf)) {
    const [section, index] = problem.step.path.match(/^(\w+)\[(\d+)\]$/)!.slice(1);
    const at = locate([section, Number(index), 'type']);
    problems.push(`${where(at)} ${problem.step.path}: ${problem.message}`);
  }
  if (problems.length) {
    const position = (p: string) => (/:(\d+):(\d+) /.exec(p) ?? [0, 0, 0]).slice(1).map(Number);
    problems.sort((a, b) => {
      const [la, ca] = position(a);
      const [lb, cb] = position(b);
      return la - lb || ca - cb;
    });
    throw new PipelineFileError(problems);
  }
  return spec;
}

export async function loadPipelineFile(file: string, registry: Registry): Promise<PipelineSpec> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new PipelineFileError([`${file}: cannot read: ${(err as Error).message}`]);
  }
  return parsePipeline(text, file, registry);
}
