import { finalize, type OperatorFunction } from 'rxjs';
import { z } from 'zod';
import { defineSink } from '../pipeline/component.js';
import { withFacts, type Envelope } from '../pipeline/envelope.js';
import { SluiceError } from '../errors.js';
import type { Image } from '../storage/metadata-index.js';
import { perItem } from '../pipeline/settle.js';
import { ATTRIBUTE_OPERATORS, attributeProblem, tagOfKeyword } from '../series-types/classifier.js';

const attributeConfig = z
  .strictObject({
    keyword: z.string().optional().describe('Dictionary keyword of the element, e.g. SliceThickness'),
    tag: z.number().int().min(0).max(0xffffffff).optional().describe('Tag as a number, e.g. 0x00180050'),
    operator: z
      .enum(ATTRIBUTE_OPERATORS)
      .default('equals')
      .describe('How the value is compared with `values`'),
    values: z
      .union([z.string(), z.number().transform(String)])
      .describe('The operand: a string, a number, a regular expression or "lo,hi" for range'),
    flags: z.string().optional().describe('Regular expression flags (i, m, s, u) for operator regex'),
  })
  .superRefine((a, ctx) => {
    if ((a.keyword === undefined) === (a.tag === undefined))
      ctx.addIssue({ code: 'custom', message: 'give either keyword or tag' });
    else if (a.keyword !== undefined && tagOfKeyword(a.keyword) === undefined)
      ctx.addIssue({ code: 'custom', path: ['keyword'], message: `unknown keyword ${a.keyword}` });
    const problem = attributeProblem(a);
    if (problem) ctx.addIssue({ code: 'custom', path: ['values'], message: problem });
  })
  .transform((a) => ({
    tag: a.tag ?? tagOfKeyword(a.keyword!)!,
    operator: a.operator,
    values: a.values,
    flags: a.flags,
  }));

const seriesTypeConfig = z.strictObject({
  name: z.string().min(1).max(180).describe('Series type name; created in the state store when missing'),
  rules: z
    .array(z.strictObject({ attributes: z.array(attributeConfig).describe('All must match') }))
    .min(1)
    .describe('The type applies when any rule matches'),
});

/**
 * Labels each series with the series types that apply to it: the managed types (`/api/seriestypes`) plus
 * static ones from this config, evaluated on the instance's header. Replaces the series' automatic
 * assignments and keeps manual ones. Comes after `index`, which tells it the series.
 *
 * @example
 * sinks:
 *   - type: index
 *   - type: classify_series
 *     series_types:
 *       - name: CT thin slice
 *         rules:
 *           - attributes:
 *               - { keyword: Modality, values: CT }
 *               - { keyword: SliceThickness, operator: '<', values: 2 }
 */
export const classifySeries = defineSink({
  type: 'classify_series',
  requires: ['indexed'],
  provides: ['seriesTypes'],
  summary: 'Assigns series types to each series (managed rules plus static rules from the pipeline file)',
  config: z.strictObject({
    series_types: z
      .array(seriesTypeConfig)
      .default([])
      .describe('Static series types, evaluated beside the managed ones'),
  }),
  example: {
    series_types: [
      {
        name: 'CT thin slice',
        rules: [
          {
            attributes: [
              { tag: 0x00080060, operator: 'equals', values: 'CT', flags: undefined },
              { tag: 0x00180050, operator: '<', values: '2', flags: undefined },
            ],
          },
        ],
      },
    ],
  },
  create: (config, ctx): OperatorFunction<Envelope, Envelope> => {
    const service = ctx.services.seriesTypes;
    const registration = service.registerStatic(config.series_types);
    ctx.preparing(registration);
    // Once the stream ends, its static types no longer take part (none took part if registering failed).
    const unregister = () =>
      void registration.then(
        (remove) => remove(),
        () => undefined,
      );
    return (envelopes) =>
      envelopes.pipe(
        perItem(
          ctx,
          async (envelope) => {
            // `sluice lint` keeps classify_series after index; a pipeline built in code may not.
            const image = envelope.facts.indexed?.image;
            if (!image)
              throw new SluiceError(
                'CLASSIFY.NO_SERIES',
                `${ctx.path}: no indexed image on envelope ${envelope.id}; put classify_series after index`,
              );
            const ids = await service.classify(image.seriesId, envelope.header);
            return withFacts(envelope, { seriesTypes: { ids } });
          },
          // Series side by side; one series' instances one after the other (SeriesTypeService.classify).
          { concurrency: 16 },
        ),
        finalize(unregister),
      );
  },
});
