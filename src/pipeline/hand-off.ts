/**
 * A front end's end of a pipeline split over the event bus (services.split): each received instance is
 * written to the incoming area of the blob store, then published to the pipeline's topic; the sender is
 * acknowledged after both. A sender that waits for the result (an upload answering with the indexed image,
 * an import, a box push) gets the worker's, or, past the timeout, the acknowledgement alone: the instance
 * is durable and queued either way.
 */
import type { OperatorFunction } from 'rxjs';
import type { ComponentContext } from './component.js';
import type { Envelope } from './envelope.js';
import { withFacts } from './envelope.js';
import { drop, perItem } from './settle.js';
import type { Outcome } from './outcome.js';
import type { BusRoles } from './services.js';
import type { EventResult, InstanceEvent } from '../storage/event-bus.js';
import { SluiceError } from '../errors.js';
import type { DicomHeader } from '../dicom/header.js';

/** Senders that are answered only once the instance is stored: DICOM C-STORE and watched folders wait less. */
const WAITS_FOR_RESULT = new Set(['user', 'import', 'box']);

export function handOff(
  ctx: ComponentContext,
  pipeline: string,
  split: BusRoles,
  counted: () => void,
): OperatorFunction<Envelope, Envelope> {
  return perItem(
    ctx,
    async (envelope) => {
      const blobKey = envelope.draft?.key ?? envelope.id;
      if (envelope.draft) await envelope.draft.commit();
      else if (envelope.content) await split.incoming.putBytes(blobKey, envelope.content);
      else await split.incoming.putFile(blobKey, envelope.path);
      const waits = WAITS_FOR_RESULT.has(envelope.origin.sourceType);
      const event: InstanceEvent = {
        id: envelope.id,
        pipeline,
        origin: envelope.origin,
        blobKey,
        size: envelope.size,
        dataset: attributesOf(envelope.header),
        header: placeOf(envelope.header),
        ...(waits ? { replyTo: await split.bus.openReplies() } : {}),
        publishedAt: Date.now(),
      };
      const result = waits ? split.bus.expectResult(envelope.id, split.replyTimeoutMs) : undefined;
      await split.bus.publish(event);
      counted();
      const handedOff: Envelope = { ...envelope, handedOff: { blobKey } };
      const answer = await result;
      if (!answer) return handedOff;
      if (answer.kind === 'drop') return drop(answer.reason ?? 'dropped by the pipeline');
      if (answer.kind === 'quarantine') {
        const error = new SluiceError(
          answer.error?.code ?? 'PIPELINE.QUARANTINED',
          answer.error?.message ?? 'quarantined by a worker',
          answer.error?.status ?? 422,
        );
        // Recorded by the worker: settled here as such, not quarantined a second time.
        ctx.settler.settle(
          envelope,
          { kind: 'quarantine', envelope, error, quarantineId: answer.quarantineId ?? '' },
          ctx,
        );
        return drop('quarantined by a worker');
      }
      return answer.indexed ? withFacts(handedOff, { indexed: answer.indexed }) : handedOff;
    },
    { concurrency: 1024 },
  );
}

/** The attributes that place an instance, for the event (no patient data). */
function placeOf(header: DicomHeader): InstanceEvent['header'] {
  const text = (tag: string) => String(header.dataset[tag]?.Value?.[0] ?? '');
  return {
    sopInstanceUid: header.sopInstanceUid,
    sopClassUid: header.sopClassUid,
    transferSyntaxUid: header.transferSyntaxUid,
    studyInstanceUid: text('0020000D'),
    seriesInstanceUid: text('0020000E'),
    modality: text('00080060'),
  };
}

/** Binary value representations: left out of the event (their bytes are in the object). */
const BINARY = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'UN']);

/** The dataset's attributes as JSON can carry them: text, numbers, person names, sequences; no binary. */
function attributesOf(header: DicomHeader): InstanceEvent['dataset'] {
  const out: Record<string, { vr: string; Value?: unknown[] }> = {};
  for (const [tag, element] of Object.entries(header.dataset)) {
    if (BINARY.has(element.vr)) continue;
    out[tag] =
      element.vr === 'SQ' && element.Value
        ? {
            vr: 'SQ',
            Value: element.Value.map((item) =>
              attributesOf({ ...header, dataset: item as DicomHeader['dataset'] }),
            ),
          }
        : element;
  }
  return out;
}

/** A worker's outcome as the front end that waits for it receives it. */
export function resultOf(id: string, outcome: Outcome): EventResult {
  if (outcome.kind === 'ack') {
    const indexed = outcome.envelope.facts.indexed;
    return { id, kind: 'ack', ...(indexed ? { indexed } : {}) };
  }
  if (outcome.kind === 'drop') return { id, kind: 'drop', reason: outcome.reason };
  return {
    id,
    kind: 'quarantine',
    error: { code: outcome.error.code, message: outcome.error.message, status: outcome.error.httpStatus },
    ...(outcome.quarantineId ? { quarantineId: outcome.quarantineId } : {}),
  };
}
