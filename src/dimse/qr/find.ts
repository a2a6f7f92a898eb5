/**
 * C-FIND SCP (PS3.4 C.4.1): each match of the index answered as a pending response carrying the keys the
 * request asked for, then a final success; a C-CANCEL ends it with 0xFE00 at the next match. Matches are
 * read from the index a page at a time (by row id), so that no statement stays open while the socket
 * drains and memory stays flat however many match.
 */
import { encodePData, datasetPdvs, maxPdvValue } from '../pdu.js';
import { CommandField } from '../commands.js';
import { depthOf, findAttributeByTag, QueryError, type FindMatch } from '../../storage/find-query.js';
import { encodeQrResponse, QrStatus, type ResponseOptions } from './messages.js';
import {
  encodeIdentifier,
  INSTANCE_AVAILABILITY,
  QUERY_RETRIEVE_LEVEL,
  RETRIEVE_AE_TITLE,
  type ResponseElement,
} from './identifier.js';
import { qrRequest, QrRequestError, type QrRequest } from './request.js';
import type { Operation } from './session.js';
import type { InformationModel } from './sop-classes.js';

/** Matches read from the index at once. */
const PAGE = 200;
/** Responses written between two turns of the event loop, so that a C-CANCEL is read while matches go out. */
const YIELD_EVERY = 16;
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Writes a response command set (and its identifier) on the operation's context. */
export function respond(
  op: Operation,
  field: number,
  status: number,
  options: ResponseOptions = {},
  identifier?: Buffer,
): Promise<void> {
  const pdus = [
    encodePData(
      op.contextId,
      true,
      encodeQrResponse(op.command, field, status, { ...options, dataset: !!identifier }),
    ),
  ];
  if (identifier)
    pdus.push(...datasetPdvs(op.contextId, identifier, maxPdvValue(op.channel.peerMaxPduLength), true));
  return op.channel.write(pdus);
}

/** Answers a request that cannot be served (0xA900, 0xC000) and returns true; false for other errors. */
export async function refused(op: Operation, field: number, err: unknown): Promise<boolean> {
  if (err instanceof QrRequestError) {
    await respond(op, field, err.status, { comment: err.message, offending: err.offending });
    return true;
  }
  if (err instanceof QueryError) {
    await respond(op, field, QrStatus.UnableToProcess, { comment: err.message });
    return true;
  }
  return false;
}

export async function runFind(op: Operation, model: InformationModel): Promise<void> {
  const field = CommandField.CFindRsp;
  let request: QrRequest;
  try {
    request = qrRequest(op.identifier, op.transferSyntax, model);
  } catch (err) {
    if (await refused(op, field, err)) return;
    throw err;
  }
  const returns = request.elements
    .map((e) => findAttributeByTag(e.tag))
    .filter((a) => a && depthOf(a.level) <= depthOf(request.level))
    .map((a) => a!.keyword);
  const pending = request.unsupportedKeys ? QrStatus.PendingWarning : QrStatus.Pending;
  let afterId: number | undefined;
  for (;;) {
    if (op.signal.aborted) return respond(op, field, QrStatus.Cancel);
    let page: FindMatch[];
    try {
      page = await op.services.index.find({
        level: request.level,
        keys: request.keys,
        returns,
        caseInsensitiveNames: op.services.caseInsensitiveNames,
        afterId,
        limit: PAGE,
      });
    } catch (err) {
      if (await refused(op, field, err)) return;
      return respond(op, field, QrStatus.OutOfResources, {
        comment: `query failed: ${(err as Error).message}`,
      });
    }
    for (const match of page) {
      if (op.signal.aborted) return respond(op, field, QrStatus.Cancel);
      await respond(
        op,
        field,
        pending,
        {},
        encodeIdentifier(answer(request, match, op.ourAe), op.transferSyntax),
      );
    }
    if (page.length < PAGE) break;
    afterId = page[page.length - 1].id;
  }
  await respond(op, field, QrStatus.Success);
}

/** One match as the request asked for it: every key it sent, with the index's value or empty. */
function answer(request: QrRequest, match: FindMatch, ourAe: string): ResponseElement[] {
  const elements: ResponseElement[] = [{ tag: QUERY_RETRIEVE_LEVEL, vr: 'CS', text: request.level }];
  for (const e of request.elements) {
    if (e.tag === QUERY_RETRIEVE_LEVEL) continue;
    if (e.tag === RETRIEVE_AE_TITLE) elements.push({ tag: e.tag, vr: 'AE', text: ourAe });
    else if (e.tag === INSTANCE_AVAILABILITY) elements.push({ tag: e.tag, vr: 'CS', text: 'ONLINE' });
    else {
      const a = findAttributeByTag(e.tag);
      const text = a ? match.values[a.keyword] : undefined;
      elements.push({ tag: e.tag, vr: a?.vr ?? e.vr, text });
    }
  }
  return elements;
}
