import { z } from 'zod';
import { defineOperator } from '../pipeline/component.js';
import { bytesOf, withContent, withFacts } from '../pipeline/envelope.js';
import { SluiceError } from '../errors.js';
import { perItem } from '../pipeline/settle.js';
import { OPTION_NAMES } from '../anonymization/deid/profile.js';

/**
 * De-identifies each instance with the DICOM PS3.15 Basic Application Level Confidentiality Profile and the
 * options listed (Table E.1-1, kept as data in src/anonymization/deid/). UIDs are replaced consistently from the
 * installation's secret, dates shifted per patient with the Modified Dates option, private groups removed
 * unless Retain Safe Private keeps the safe ones; the pixel data is copied bit for bit. With `record_keys`,
 * an anonymization key is recorded per instance and pseudonyms are harmonized per patient, study and series
 * (Slicebox's keys, `/api/anonymization/keys`; keys of instances anonymized at the same moment share one
 * commit). An instance already de-identified is anonymized like any other, unless this installation already
 * applied the same options to it (its Deidentification Method carries our mark): then it passes untouched,
 * unless `force`.
 *
 * ```yaml
 * operators:
 *   - type: anonymize
 *     profile: [RETAIN_LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED_DATES, CLEAN_DESCRIPTORS]
 * ```
 */
export const anonymizeOperator = defineOperator({
  type: 'anonymize',
  provides: ['anonymized'],
  summary: 'De-identifies instances per DICOM PS3.15 (Basic Profile and the options listed)',
  config: z.strictObject({
    profile: z
      .array(z.enum(OPTION_NAMES))
      .default([])
      .describe('Options applied on top of the Basic Profile (BASIC_PROFILE is always applied)'),
    force: z
      .boolean()
      .default(false)
      .describe('Anonymize again instances this installation already anonymized with the same options'),
    record_keys: z
      .boolean()
      .default(true)
      .describe('Record an anonymization key per instance and keep one set of pseudonyms per patient'),
    concurrency: z.number().int().min(1).max(256).default(8).describe('Instances anonymized at once'),
  }),
  example: {
    profile: ['RETAIN_LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED_DATES' as const],
    force: false,
    record_keys: true,
    concurrency: 8,
  },
  create: (config, ctx) =>
    perItem(
      ctx,
      async (envelope) => {
        const result = await ctx.services.anonymization.anonymizeBatched(
          await bytesOf(envelope),
          { options: config.profile, force: config.force, recordKey: config.record_keys },
          envelope.header,
        );
        if (result.skipped) return envelope;
        // In memory: the storage sink writes the anonymized instance once.
        const replaced = withContent(envelope, result.bytes, result.header);
        return withFacts(replaced, { anonymized: { keyId: result.key?.id } });
      },
      { concurrency: config.concurrency },
    ),
});
