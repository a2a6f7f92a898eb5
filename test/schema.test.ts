import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { registry } from '../src/components.js';

describe('pipelines/pipeline.schema.json', () => {
  it('is the schema generated from the registry (run `npx sluice schema` after changing a component)', async () => {
    const committed = JSON.parse(await readFile('pipelines/pipeline.schema.json', 'utf8'));
    expect(committed).toEqual(JSON.parse(JSON.stringify(registry.jsonSchema())));
  });
});
