import type { TagPath } from './types';
import { tagString } from './format';

/**
 * `ReferencedImageSequence[*].ReferencedSOPInstanceUID` or `(0008,1140)[1].(0008,1155)` → TagTree JSON
 * (leaf outwards, `previous` towards the root). Keywords go as `name`, tags as `tag`; the server checks them.
 */
export function parseTagPath(text: string): Record<string, unknown> {
  const steps = text.trim().split('.').filter(Boolean);
  if (!steps.length) throw new Error('Give a keyword such as PatientName or a tag such as (0010,0010)');
  let previous: Record<string, unknown> | undefined;
  steps.forEach((step, i) => {
    const m =
      /^(?:\(([0-9a-fA-F]{4}),([0-9a-fA-F]{4})\)|([0-9a-fA-F]{8})|([A-Za-z][A-Za-z0-9]*))(?:\[(\*|\d+)\])?$/.exec(
        step.trim(),
      );
    if (!m) throw new Error(`"${step}" is neither a keyword nor a tag like (0010,0010)`);
    const hex = m[1] ? m[1] + m[2] : m[3];
    const node: Record<string, unknown> = hex ? { tag: parseInt(hex, 16) } : { name: m[4] };
    if (m[5] !== undefined) node.item = m[5];
    else if (i < steps.length - 1) node.item = '*';
    if (previous) node.previous = previous;
    previous = node;
  });
  return previous!;
}

/** TagPath JSON → `Keyword[*].Keyword`. */
export function formatTagPath(p: TagPath): string {
  const here = `${p.name || tagString(p.tag)}${p.item ? `[${p.item}]` : ''}`;
  return p.previous ? `${formatTagPath(p.previous)}.${here}` : here;
}
