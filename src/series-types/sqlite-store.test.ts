import { afterEach, describe, expect, it } from 'vitest';
import { BadRequestError } from '../errors.js';
import type { StateStore } from '../storage/state-store.js';
import type { SeriesTypeRuleAttribute } from './store.js';
import { stateEngine } from '../../test/helpers/state-engines.js';

// SQLite in the embedded project, PostgreSQL (a fresh database per store) in the scale project.
const engine = stateEngine();
let state: StateStore;
afterEach(async () => state?.close().catch(() => undefined));

const modality = (seriesTypeRuleId: number, values: string): Omit<SeriesTypeRuleAttribute, 'id'> => ({
  seriesTypeRuleId,
  tag: 0x00080060,
  name: 'Modality',
  tagPath: null,
  namePath: null,
  values,
  operator: 'equals',
  flags: '',
});

describe('series types in the state store', () => {
  it('insert once per name, ensure, list, rename and delete', async () => {
    state = await engine.open();
    const ct = (await state.insertSeriesType('CT'))!;
    expect(ct).toEqual({ id: ct.id, name: 'CT' });
    expect(await state.insertSeriesType('CT')).toBeUndefined();
    expect(await state.ensureSeriesType('CT')).toEqual(ct);
    const mr = await state.ensureSeriesType('MR');
    expect(mr.name).toBe('MR');
    expect(mr.id).not.toBe(ct.id);
    expect(await state.listSeriesTypes(0, 10)).toEqual([ct, mr]);
    expect(await state.listSeriesTypes(1, 10)).toEqual([mr]);
    expect(await state.listSeriesTypes(0, Number.MAX_SAFE_INTEGER)).toHaveLength(2);
    expect(await state.seriesType(mr.id)).toEqual(mr);
    expect(await state.seriesType(999)).toBeUndefined();

    expect(await state.updateSeriesType(mr.id, 'MR brain')).toBe(true);
    expect(await state.updateSeriesType(mr.id, 'MR brain')).toBe(true);
    await expect(state.updateSeriesType(mr.id, 'CT')).rejects.toThrow(BadRequestError);
    await expect(state.updateSeriesType(999, 'CT')).rejects.toThrow(
      'A series type named "CT" already exists',
    );
    expect(await state.updateSeriesType(999, 'other')).toBe(false);
    expect(await state.seriesType(mr.id)).toEqual({ id: mr.id, name: 'MR brain' });
    expect(await state.insertSeriesType("x' OR 1=1 --")).toMatchObject({ name: "x' OR 1=1 --" });

    expect(await state.deleteSeriesType(ct.id)).toBe(true);
    expect(await state.deleteSeriesType(ct.id)).toBe(false);
    expect((await state.listSeriesTypes(0, 10)).map((t) => t.name)).toEqual(['MR brain', "x' OR 1=1 --"]);
  });

  it('keep rules and attributes across a restart; deleting a type or rule cascades', async () => {
    state = await engine.open();
    const ct = (await state.insertSeriesType('CT thin'))!;
    const everything = (await state.insertSeriesType('everything'))!;
    const none = (await state.insertSeriesType('none'))!;
    const rule = await state.insertSeriesTypeRule(ct.id);
    expect(rule).toEqual({ id: rule.id, seriesTypeId: ct.id });
    const second = await state.insertSeriesTypeRule(ct.id);
    const empty = await state.insertSeriesTypeRule(everything.id);
    const isCt = await state.insertSeriesTypeRuleAttribute(modality(rule.id, 'CT'));
    expect(isCt).toEqual({ id: isCt.id, ...modality(rule.id, 'CT') });
    // A private tag beyond 2^31, a sequence path, an operator with flags.
    const described = await state.insertSeriesTypeRuleAttribute({
      seriesTypeRuleId: rule.id,
      tag: 0xfffee00d,
      name: '',
      tagPath: '528704',
      namePath: 'ReferencedImageSequence',
      values: '\\bthin\\b',
      operator: 'regex',
      flags: 'i',
    });
    expect(described).toMatchObject({ tag: 0xfffee00d, tagPath: '528704', operator: 'regex', flags: 'i' });
    const isMr = await state.insertSeriesTypeRuleAttribute(modality(second.id, 'MR'));
    await state.close();

    state = await engine.reopen(state);
    expect(await state.listSeriesTypeRules(ct.id)).toEqual([rule, second]);
    expect(await state.seriesTypeRule(empty.id)).toEqual(empty);
    expect(await state.seriesTypeRule(999)).toBeUndefined();
    expect(await state.listSeriesTypeRuleAttributes(rule.id)).toEqual([isCt, described]);
    expect(await state.seriesTypeDefinitions()).toEqual([
      {
        ...ct,
        rules: [
          { ...rule, attributes: [isCt, described] },
          { ...second, attributes: [isMr] },
        ],
      },
      { ...everything, rules: [{ ...empty, attributes: [] }] },
      { ...none, rules: [] },
    ]);

    expect(await state.deleteSeriesTypeRuleAttribute(described.id)).toBe(true);
    expect(await state.deleteSeriesTypeRuleAttribute(described.id)).toBe(false);
    expect(await state.listSeriesTypeRuleAttributes(rule.id)).toEqual([isCt]);
    expect(await state.deleteSeriesTypeRule(second.id)).toBe(true);
    expect(await state.deleteSeriesTypeRule(second.id)).toBe(false);
    expect(await state.listSeriesTypeRuleAttributes(second.id)).toEqual([]);
    expect(await state.deleteSeriesType(ct.id)).toBe(true);
    expect(await state.listSeriesTypeRules(ct.id)).toEqual([]);
    expect(await state.listSeriesTypeRuleAttributes(rule.id)).toEqual([]);
    expect(await state.seriesTypeDefinitions()).toEqual([
      { ...everything, rules: [{ ...empty, attributes: [] }] },
      { ...none, rules: [] },
    ]);
  });

  it('ensure one type of a name asked for by many callers at once, and give a name to one rename only', async () => {
    state = await engine.open();
    const ensured = await Promise.all(Array.from({ length: 8 }, () => state.ensureSeriesType('static')));
    expect(new Set(ensured.map((t) => t.id)).size).toBe(1);
    expect(await state.listSeriesTypes(0, 10)).toEqual([ensured[0]]);

    const others = await Promise.all(
      ['a', 'b', 'c', 'd'].map(async (name) => (await state.insertSeriesType(name))!),
    );
    const renamed = await Promise.allSettled(others.map((t) => state.updateSeriesType(t.id, 'taken')));
    expect(renamed.filter((r) => r.status === 'fulfilled')).toEqual([{ status: 'fulfilled', value: true }]);
    for (const r of renamed.filter((r) => r.status === 'rejected'))
      expect((r as PromiseRejectedResult).reason).toBeInstanceOf(BadRequestError);
    expect((await state.listSeriesTypes(0, 10)).filter((t) => t.name === 'taken')).toHaveLength(1);
  });
});
