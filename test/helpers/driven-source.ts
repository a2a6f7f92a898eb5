/** A source that tests drive by hand: `feed(bytes, ref)` lands one object, ingests it, resolves when settled. */
import { Observable } from 'rxjs';
import { z } from 'zod';
import { defineSource, type SourceContext } from '../../src/core/component.js';
import type { Envelope, SourceRef } from '../../src/core/envelope.js';
import type { Outcome } from '../../src/core/settle.js';

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
  ): Promise<Outcome> => {
    const landed = await ctx!.landing.landBuffers([bytes], ref);
    return ctx!.ingest(emit!, landed.path, { ...ref, sourceName: 'tester' });
  };
  return { def, feed, room: () => ctx!.waitForRoom() };
}
