import { z } from 'zod';
import { defineOperator } from '../pipeline/component.js';
import { applyTagFilters, type CompiledTagFilter } from '../dicom/filter.js';
import { bytesOf, withContent, type Envelope } from '../pipeline/envelope.js';
import { perItem } from '../pipeline/settle.js';
import { parseTagTree } from '../dicom/tag-path.js';

const tagPath = z.string().refine(
  (text) => {
    try {
      parseTagTree(text);
      return true;
    } catch {
      return false;
    }
  },
  { message: 'not a tag path such as PatientName or (0008,1140)[*].(0008,1150)' },
);

/**
 * Removes attributes with tag filters, Slicebox's way: the union of the blacklists first, then the union of
 * the whitelists. A whitelist never removes the file meta information nor the attributes the index and the
 * storage need (see ALWAYS_KEPT_KEYWORDS). With `managed`, the filters associated with the envelope's source
 * in the state store apply (`/api/filtering`), changes included from the next envelope on; `static` filters
 * apply to every envelope. Envelopes with no filter to apply pass untouched, without reading their file.
 * The filtered copy is written at byte level (kept elements as they were, pixel data bit for bit) and
 * replaces the envelope's file and header for the sinks.
 *
 * ```yaml
 * operators:
 *   - type: tag_filter
 *     static:
 *       - name: no addresses
 *         type: BLACKLIST
 *         tag_paths: [PatientAddress, OtherPatientIDsSequence, '(0008,1140)[*].(0008,1155)']
 * ```
 */
export const tagFilter = defineOperator({
  type: 'tag_filter',
  summary: 'Removes attributes with whitelist and blacklist tag filters (per source, or static)',
  config: z.strictObject({
    managed: z
      .boolean()
      .default(true)
      .describe(
        "Apply the filters associated with the envelope's source in the state store (/api/filtering)",
      ),
    static: z
      .array(
        z.strictObject({
          name: z.string().min(1).describe('Name, for logs'),
          type: z
            .enum(['WHITELIST', 'BLACKLIST'])
            .describe('WHITELIST keeps only the trees, BLACKLIST removes them'),
          tag_paths: z
            .array(tagPath)
            .describe('Tag trees: keywords or (GGGG,EEEE), [n] or [*] into sequence items, joined with "."'),
        }),
      )
      .default([])
      .describe('Filters applied to every envelope, besides the managed ones'),
    concurrency: z.number().int().min(1).max(256).default(16).describe('Instances filtered at once'),
  }),
  example: {
    managed: true,
    static: [{ name: 'no addresses', type: 'BLACKLIST' as const, tag_paths: ['PatientAddress'] }],
    concurrency: 16,
  },
  create: (config, ctx) => {
    const fixed: CompiledTagFilter[] = config.static.map((f) => ({
      name: f.name,
      type: f.type,
      trees: f.tag_paths.map(parseTagTree),
    }));
    const filtersOf = async (envelope: Envelope): Promise<readonly CompiledTagFilter[]> => {
      const managed = config.managed ? await ctx.services.tagFilters.filtersFor(envelope.origin) : [];
      return managed.length ? [...fixed, ...managed] : fixed;
    };
    return perItem(
      ctx,
      async (envelope) => {
        const filters = await filtersOf(envelope);
        if (!filters.length) return envelope;
        const result = applyTagFilters(await bytesOf(envelope), filters, envelope.header);
        // In memory: the storage sink writes the filtered instance once.
        return result ? withContent(envelope, result.bytes, result.header) : envelope;
      },
      { concurrency: config.concurrency },
    );
  },
});
