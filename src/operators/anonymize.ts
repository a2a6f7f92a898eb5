import { open, readFile, rm } from 'node:fs/promises';
import { z } from 'zod';
import { defineOperator, type ComponentContext } from '../core/component.js';
import { TEMP_FILES_TAG, tempFilesOf, type Envelope } from '../core/envelope.js';
import { PipelineError } from '../core/errors.js';
import { perItem } from '../core/settle.js';
import { OPTION_NAMES } from '../core/deid/profile.js';

/**
 * De-identifies each instance with the DICOM PS3.15 Basic Application Level Confidentiality Profile and the
 * options listed (Table E.1-1, kept as data in src/core/deid/). UIDs are replaced consistently from the
 * installation's secret, dates shifted per patient with the Modified Dates option, private groups removed
 * unless Retain Safe Private keeps the safe ones; the pixel data is copied bit for bit. With `record_keys`,
 * an anonymization key is recorded per instance and pseudonyms are harmonized per patient, study and series
 * (Slicebox's keys, `/api/anonymization/keys`). Instances already de-identified (PatientIdentityRemoved YES)
 * pass untouched unless `force`.
 *
 * ```yaml
 * operators:
 *   - type: anonymize
 *     profile: [RETAIN_LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED_DATES, CLEAN_DESCRIPTORS]
 * ```
 */
export const anonymizeOperator = defineOperator({
  type: 'anonymize',
  summary: 'De-identifies instances per DICOM PS3.15 (Basic Profile and the options listed)',
  config: z.strictObject({
    profile: z
      .array(z.enum(OPTION_NAMES))
      .default([])
      .describe('Options applied on top of the Basic Profile (BASIC_PROFILE is always applied)'),
    force: z
      .boolean()
      .default(false)
      .describe('Anonymize again instances that say PatientIdentityRemoved YES'),
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
        const service = ctx.services.anonymization;
        if (!service)
          throw new PipelineError('ANONYMIZATION.NOT_WIRED', 'anonymize: no anonymization service', 503);
        const file = envelope.content ?? (await readFile(envelope.path));
        const result = service.anonymize(
          file,
          { options: config.profile, force: config.force, recordKey: config.record_keys },
          envelope.header,
        );
        if (result.skipped) return envelope;
        const replaced = await replaceFile(ctx, envelope, result);
        return {
          ...replaced,
          header: result.header,
          tags: { ...replaced.tags, anonymized: true, anonymizationKeyId: result.key?.id },
        };
      },
      { concurrency: config.concurrency },
    ),
});

/**
 * Writes a new file for an envelope (pieces gathered in one write, so kept pixel data is never copied) to a
 * scratch path that goes when the envelope is settled.
 */
export async function replaceFile(
  ctx: ComponentContext,
  envelope: Envelope,
  file: { parts: readonly Buffer[]; length: number },
): Promise<Envelope> {
  const path = ctx.scratchPath();
  try {
    const handle = await open(path, 'w');
    try {
      let pending = [...file.parts];
      while (pending.length) {
        let { bytesWritten } = await handle.writev(pending);
        // A short write: drop what went, continue with the rest.
        while (pending.length && bytesWritten >= pending[0]!.length) bytesWritten -= pending.shift()!.length;
        if (bytesWritten && pending.length) pending[0] = pending[0]!.subarray(bytesWritten);
      }
    } finally {
      await handle.close();
    }
  } catch (err) {
    await rm(path, { force: true });
    throw err;
  }
  return {
    ...envelope,
    path,
    content: undefined,
    size: file.length,
    tags: { ...envelope.tags, [TEMP_FILES_TAG]: [...tempFilesOf(envelope), path] },
  };
}
