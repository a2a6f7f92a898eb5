import { z } from 'zod';
import { defineOperator } from '../pipeline/component.js';
import { attr } from '../dicom/header.js';
import { drop, perItem } from '../pipeline/settle.js';
import dcmjs from 'dcmjs';

/**
 * Drops instances whose attribute has one of the given values (e.g. Modality SR or PR). A drop is a
 * deliberate, successful end: the sender is answered success and the file is not stored.
 *
 * ```yaml
 * operators:
 *   - type: drop_if
 *     keyword: Modality
 *     values: [SR, PR]
 * ```
 */
export const dropIf = defineOperator({
  type: 'drop_if',
  summary: 'Drops instances whose attribute equals one of the given values',
  config: z.strictObject({
    keyword: z
      .string()
      .refine((k) => k in dcmjs.data.DicomMetaDictionary.nameMap, { message: 'not a DICOM keyword' })
      .describe('DICOM keyword of the attribute to test, e.g. Modality'),
    values: z.array(z.string()).min(1).describe('Values that cause a drop (exact match, trimmed)'),
  }),
  example: { keyword: 'Modality', values: ['SR'] },
  create: (config, ctx) =>
    perItem(
      ctx,
      (envelope) => {
        const value = attr(envelope.header, config.keyword);
        return config.values.includes(value) ? drop(`${config.keyword} is ${value}`) : envelope;
      },
      { concurrency: 16 },
    ),
});
