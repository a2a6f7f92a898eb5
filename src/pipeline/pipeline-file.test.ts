import { describe, expect, it } from 'vitest';
import { parsePipeline, PipelineFileError } from './pipeline-file.js';
import { registry } from '../components.js';
import { FACT_NAMES, type FactContract } from './facts.js';

const parse = (text: string) => parsePipeline(text, 'p.yaml', registry);
const problems = (text: string): string[] => {
  try {
    parse(text);
  } catch (err) {
    if (err instanceof PipelineFileError) return err.problems;
    throw err;
  }
  throw new Error('expected a PipelineFileError');
};

describe('pipeline files', () => {
  it('loads a valid file with defaults from the component schemas', () => {
    const spec = parse(`name: ok
sources:
  - type: dicom_scp
    port: 4242
sinks:
  - type: storage
  - type: index
`);
    expect(spec.name).toBe('ok');
    expect(spec.maxInFlight).toBe(64);
    expect(spec.sources[0].config).toMatchObject({ port: 4242, max_associations: 32 });
    expect(spec.sinks.map((s) => s.def.type)).toEqual(['storage', 'index']);
  });

  it('names file:line:col and the path of a wrong value', () => {
    const p = problems(`name: bad
sources:
  - type: dicom_scp
    port: "eleven"
sinks:
  - type: storage
`);
    expect(p).toHaveLength(1);
    expect(p[0]).toMatch(/^p\.yaml:4:11 sources\[0\]\.port: /);
  });

  it('reports unknown keys at the key', () => {
    const p = problems(`name: bad
sources:
  - type: dicom_scp
    prot: 4242
sinks:
  - type: storage
`);
    expect(p[0]).toBe('p.yaml:4:5 sources[0].prot: unknown key "prot" (did you mean "port"?)');
  });

  it('suggests the nearest key and component type for a misspelt one, and nothing for a stranger', () => {
    const p = problems(`name: typo
max_in_fligth: 8
sources:
  - type: dicom_scp
    ae_titel: SLUICE
    zzzzzz: 1
sinks:
  - type: storgae
`);
    expect(p).toEqual([
      'p.yaml:2:1 max_in_fligth: unknown key "max_in_fligth" (did you mean "max_in_flight"?)',
      'p.yaml:5:5 sources[0].ae_titel: unknown key "ae_titel" (did you mean "ae_title"?)',
      'p.yaml:6:5 sources[0].zzzzzz: unknown key "zzzzzz"',
      expect.stringMatching(
        /^p\.yaml:8:11 sinks\[0\]\.type: unknown sink type "storgae" \(did you mean "storage"\?\) \(known: /,
      ),
    ]);
  });

  it('reports unknown component types with the known ones', () => {
    const p = problems(`name: bad
sources:
  - type: ftp_server
sinks:
  - type: storage
`);
    expect(p[0]).toMatch(
      /^p\.yaml:3:11 sources\[0\]\.type: unknown source type "ftp_server" \(known: .*dicom_scp/,
    );
  });

  it('reports every problem at once, including missing sections', () => {
    const p = problems(`name: Bad Name
sources: []
`);
    expect(p.some((x) => x.includes('name:'))).toBe(true);
    expect(p.some((x) => x.includes('sources: a pipeline needs at least one source'))).toBe(true);
    expect(p.some((x) => x.includes('sinks'))).toBe(true);
  });

  it('reports YAML syntax errors with a position', () => {
    const p = problems(`name: x\nsources:\n  - type: [dicom_scp\n`);
    expect(p[0]).toMatch(/^p\.yaml:\d+:\d+ /);
  });

  it('rejects duplicate keys', () => {
    const p = problems(`name: a\nname: b\nsources:\n  - type: http_upload\nsinks:\n  - type: storage\n`);
    expect(p[0]).toMatch(/^p\.yaml:2:1 /);
  });

  it('generates a JSON Schema covering every component type', () => {
    const schema = JSON.stringify(registry.jsonSchema());
    for (const def of registry.all()) expect(schema).toContain(`"${def.type}"`);
  });
});

describe('component refinements', () => {
  it('are checked at load (watch_folder move without move_to)', () => {
    const p = problems(`name: w
sources:
  - type: watch_folder
    path: inbox
    after_import: move
sinks:
  - type: storage
`);
    expect(p[0]).toMatch(/^p\.yaml:\d+:\d+ sources\[0\]\.move_to: required when after_import is "move"/);
  });
});

describe('the order of facts', () => {
  it('refuses dicom_forward before storage, at its type, naming the missing fact', () => {
    const p = problems(`name: f
sources:
  - type: dicom_scp
sinks:
  - type: dicom_forward
    ae_title: ARCHIVE
    host: 127.0.0.1
    port: 104
  - type: storage
  - type: index
`);
    expect(p).toEqual([
      'p.yaml:5:11 sinks[0]: dicom_forward requires the fact "stored", which no earlier component provides: move it after storage (sinks[1])',
      'p.yaml:5:11 sinks[0]: dicom_forward requires the fact "indexed", which no earlier component provides: move it after index (sinks[2])',
    ]);
  });

  it('refuses forward in a pipeline without index, naming the sink that provides it', () => {
    const p = problems(`name: f
sources:
  - type: http_upload
sinks:
  - type: storage
  - type: forward
`);
    expect(p).toEqual([
      'p.yaml:6:11 sinks[1]: forward requires the fact "indexed", which no earlier component provides: add `index` before it',
    ]);
  });

  it('refuses classify_series before index and accepts the working order', () => {
    const p = problems(`name: c
sources:
  - type: http_upload
sinks:
  - type: storage
  - type: classify_series
  - type: index
`);
    expect(p).toEqual([
      'p.yaml:6:11 sinks[1]: classify_series requires the fact "indexed", which no earlier component provides: move it after index (sinks[2])',
    ]);
    expect(
      parse(`name: c
sources:
  - type: http_upload
sinks:
  - type: storage
  - type: index
  - type: classify_series
  - type: forward
`).sinks.map((s) => s.def.type),
    ).toEqual(['storage', 'index', 'classify_series', 'forward']);
  });

  it('declares on every operator and sink only facts that exist, and a provider for each required one', () => {
    for (const def of registry.all().filter((d) => d.kind !== 'source')) {
      const { provides = [], requires = [] } = def as FactContract;
      for (const fact of [...provides, ...requires]) expect(FACT_NAMES).toContain(fact);
      for (const fact of requires)
        expect(registry.all().some((d) => (d as FactContract).provides?.includes(fact))).toBe(true);
    }
  });
});
