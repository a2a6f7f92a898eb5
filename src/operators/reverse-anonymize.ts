import { z } from 'zod';
import { defineOperator } from '../pipeline/component.js';
import { attr } from '../dicom/header.js';
import { perItem } from '../pipeline/settle.js';
import { bytesOf, withContent, withFacts } from '../pipeline/envelope.js';

/**
 * Reverse anonymization on ingest (Slicebox §4.6): an instance that says PatientIdentityRemoved YES and
 * whose anonymized patient, study, series or image matches an anonymization key gets the real values back
 * in its root dataset (name, ID, UIDs and the key's remembered attributes, at and above the matched level).
 * So data sent out anonymized and returned (a segmentation in the anonymous study, say) lands under the
 * real patient. Anything else passes untouched, without its file being read.
 *
 * ```yaml
 * operators:
 *   - type: reverse_anonymize
 * ```
 */
export const reverseAnonymize = defineOperator({
  type: 'reverse_anonymize',
  provides: ['reversed'],
  summary: 'Restores the real identity of returning anonymized instances from anonymization keys',
  config: z.strictObject({
    concurrency: z.number().int().min(1).max(256).default(8).describe('Instances processed at once'),
  }),
  example: { concurrency: 8 },
  create: (config, ctx) =>
    perItem(
      ctx,
      async (envelope) => {
        if (attr(envelope.header, 'PatientIdentityRemoved').toUpperCase() !== 'YES') return envelope;
        const result = await ctx.services.anonymization.reverse(await bytesOf(envelope), envelope.header);
        if (!result) return envelope;
        const replaced = withContent(envelope, result.bytes, result.header);
        return withFacts(replaced, { reversed: { keyId: result.key.id, level: result.level } });
      },
      { concurrency: config.concurrency },
    ),
});
