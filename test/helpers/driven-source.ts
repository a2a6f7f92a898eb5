/**
 * A source that tests drive by hand: `feed(bytes, ref)` lands one object (or, with `held`, hands it over in
 * memory as the SCP does with small datasets), ingests it, resolves when settled.
 */
import { Observable } from 'rxjs';
import { z } from 'zod';
import { defineSource, type SourceContext } from '../../src/pipeline/component.js';
import type { Envelope } from '../../src/pipeline/envelope.js';
import type { SourceRef } from '../../src/pipeline/origin.js';
import type { Outcome } from '../../src/pipeline/outcome.js';

export function drivenSource() {
  let ctx: SourceContext | undefined;
  let emit: ((e: Envelope) => void) | undefined;
  const def = defineSource({
    type: 'test_source',
    summary: 'test source driven by the test',
    config: z.strictObject({}),
    example: {},
    create: (_c, c) =>
      new Observable<Envelope>((subscriber) => {
        ctx = c;
        emit = (e) => subscriber.next(e);
      }),
  });
  const feed = async (
    bytes: Buffer,
    ref: SourceRef = { sourceType: 'user', sourceId: 7 },
    options: { held?: boolean } = {},
  ): Promise<Outcome> => {
    const landed = ctx!.landing.hold(ref);
    if (options.held)
      return ctx!.ingest(emit!, landed.path, { ...ref, sourceName: 'tester' }, { content: bytes });
    await ctx!.landing.write(landed.path, bytes);
    return ctx!.ingest(emit!, landed.path, { ...ref, sourceName: 'tester' });
  };
  return { def, feed, room: () => ctx!.waitForRoom() };
}
