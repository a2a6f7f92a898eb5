import { describe, expect, it } from 'vitest';
import {
  formatTagTree,
  parseTagTree,
  relation,
  tagTreeFromJson,
  tagTreeToJson,
  TagPathError,
} from './tag-path.js';

describe('tag trees', () => {
  it('parse and print the string form, keywords accepted', () => {
    const tree = parseTagTree('ReferencedImageSequence[*].(0008,1155)');
    expect(tree).toEqual([{ tag: 0x00081140, item: '*' }, { tag: 0x00081155 }]);
    expect(formatTagTree(tree)).toBe('(0008,1140)[*].(0008,1155)');
    expect(formatTagTree(parseTagTree('(0009,10aa)'))).toBe('(0009,10AA)');
    expect(parseTagTree('(0008,1140)[2]')).toEqual([{ tag: 0x00081140, item: 2 }]);
  });

  it('reject what is not a tree', () => {
    for (const bad of ['', 'NoSuchKeyword', '(0008,1140).(0008,1155)', '(0008,1140)[0]', '(0008,114)', 'a b'])
      expect(() => parseTagTree(bad), bad).toThrow(TagPathError);
  });

  it('read and write the JSON form, leaf outwards', () => {
    const json = { tag: 0x00081155, previous: { name: 'ReferencedImageSequence', item: '1' } };
    const tree = tagTreeFromJson(json);
    expect(tree).toEqual([{ tag: 0x00081140, item: 1 }, { tag: 0x00081155 }]);
    expect(tagTreeToJson(tree)).toEqual({
      tag: 0x00081155,
      name: 'ReferencedSOPInstanceUID',
      previous: { tag: 0x00081140, name: 'ReferencedImageSequence', item: '1' },
    });
    expect(() => tagTreeFromJson({ name: 'Nope' })).toThrow(/unknown keyword/);
    expect(() => tagTreeFromJson({ tag: 1, previous: { tag: 2 } })).toThrow(/needs an item/);
  });

  it('relate element and item paths to trees', () => {
    const t = parseTagTree('(0008,1140)[*].(0008,1155)');
    expect(relation(t, [{ tag: 0x00081140 }])).toBe('ancestor');
    expect(relation(t, [{ tag: 0x00081140, item: 3 }])).toBe('ancestor');
    expect(relation(t, [{ tag: 0x00081140, item: 3 }, { tag: 0x00081155 }])).toBe('covered');
    expect(relation(t, [{ tag: 0x00081140, item: 3 }, { tag: 0x00081150 }])).toBe('outside');
    expect(relation(t, [{ tag: 0x00100010 }])).toBe('outside');
    const one = parseTagTree('(0008,1140)[1]');
    expect(relation(one, [{ tag: 0x00081140, item: 1 }])).toBe('covered');
    expect(relation(one, [{ tag: 0x00081140, item: 1 }, { tag: 0x00081155 }])).toBe('covered');
    expect(relation(one, [{ tag: 0x00081140, item: 2 }])).toBe('outside');
    const whole = parseTagTree('ReferencedImageSequence');
    expect(relation(whole, [{ tag: 0x00081140, item: 2 }, { tag: 0x00081155 }])).toBe('covered');
  });
});
