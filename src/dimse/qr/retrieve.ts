/**
 * C-MOVE and C-GET SCP (PS3.4 C.4.2, C.4.3): the instances under the matched entities are sent as C-STORE
 * sub-operations, to a destination known as an SCU (C-MOVE, over our own associations, streamed as stored
 * by the store SCU) or back on the requester's association (C-GET, on the storage contexts it proposed).
 * Both decompress or re-encode for a peer that refuses the stored syntax, report counts in a pending
 * response after each sub-operation, stop at a C-CANCEL (0xFE00), and end with success, 0xB000 (some
 * failed or warned) or 0xA702 (none stored) naming the failed SOP instances.
 */
import { CommandField } from '../commands.js';
import { isStored, storeFiles, type StoreResult } from '../scu/store-scu.js';
import {
  associationGroups,
  reencode,
  storedDataset,
  syntaxesToPropose,
  type StoredFile,
} from '../scu/stored-files.js';
import { writeStoreRequest } from '../scp/store-request.js';
import { Status } from '../commands.js';
import { needsDecompression } from '../../render/transcode.js';
import { storedObject } from '../../storage/stored-object.js';
import { encodeIdentifier, FAILED_SOP_INSTANCE_UID_LIST } from './identifier.js';
import { QrStatus, type SubOperationCounts } from './messages.js';
import { qrRequest, type QrRequest } from './request.js';
import { refused, respond } from './find.js';
import type { Operation } from './session.js';
import type { InformationModel } from './sop-classes.js';

/** Instances read from the index at once while listing what a retrieve sends. */
const PAGE = 5000;

class Progress {
  readonly counts: Required<SubOperationCounts>;
  readonly failedUids: string[] = [];
  /** The last reason a sub-operation failed, for the final Error Comment. */
  reason: string | undefined;

  constructor(total: number) {
    this.counts = { remaining: total, completed: 0, failed: 0, warning: 0 };
  }

  record(sopInstanceUid: string, status: number, comment?: string): void {
    this.counts.remaining--;
    if (!isStored(status)) {
      this.counts.failed++;
      this.failedUids.push(sopInstanceUid);
      this.reason = comment ?? (status < 0 ? 'not sent' : `status 0x${status.toString(16).padStart(4, '0')}`);
    } else if (status === Status.Success) this.counts.completed++;
    else this.counts.warning++;
  }
}

/** The listing failed or matched nothing: answered here; else the instances to send. */
async function instancesToSend(
  op: Operation,
  field: number,
  model: InformationModel,
): Promise<{ request: QrRequest; files: StoredFile[] } | undefined> {
  let request: QrRequest;
  try {
    request = qrRequest(op.identifier, op.transferSyntax, model);
  } catch (err) {
    if (await refused(op, field, err)) return undefined;
    throw err;
  }
  const files: StoredFile[] = [];
  let afterId: number | undefined;
  for (;;) {
    let page;
    try {
      page = await op.services.index.find({
        level: 'IMAGE',
        keys: request.keys,
        returns: ['SOPInstanceUID', 'SOPClassUID', 'AvailableTransferSyntaxUID'],
        caseInsensitiveNames: op.services.caseInsensitiveNames,
        afterId,
        limit: PAGE,
      });
    } catch (err) {
      if (await refused(op, field, err)) return undefined;
      throw err;
    }
    for (const m of page) {
      files.push({
        object: storedObject(op.services.blobs, m.values.SOPInstanceUID),
        sopInstanceUid: m.values.SOPInstanceUID,
        sopClassUid: m.values.SOPClassUID,
        transferSyntaxUid: m.values.AvailableTransferSyntaxUID,
      });
    }
    if (page.length < PAGE) break;
    afterId = page[page.length - 1].id;
  }
  return { request, files };
}

/** The final response: cancel, success, or failures named in FailedSOPInstanceUIDList. */
async function finish(op: Operation, field: number, progress: Progress): Promise<void> {
  const { counts } = progress;
  const cancelled = op.signal.aborted && counts.remaining > 0;
  const failedList = failedIdentifier(op, progress.failedUids);
  if (cancelled)
    return respond(
      op,
      field,
      QrStatus.Cancel,
      { counts },
      progress.failedUids.length ? failedList : undefined,
    );
  const final = { completed: counts.completed, failed: counts.failed, warning: counts.warning };
  if (counts.failed === 0)
    return respond(op, field, counts.warning ? QrStatus.SubOperationsFailed : QrStatus.Success, {
      counts: final,
    });
  const status =
    counts.completed + counts.warning > 0
      ? QrStatus.SubOperationsFailed
      : QrStatus.UnableToPerformSubOperations;
  return respond(op, field, status, { counts: final, comment: progress.reason }, failedList);
}

/** FailedSOPInstanceUIDList, as many UIDs as fit in one element (64 KiB; a few hundred at least). */
function failedIdentifier(op: Operation, uids: string[]): Buffer {
  const kept: string[] = [];
  let length = 0;
  for (const uid of uids) {
    if (length + uid.length + 1 > 0xfff0) break;
    kept.push(uid);
    length += uid.length + 1;
  }
  return encodeIdentifier(
    [{ tag: FAILED_SOP_INSTANCE_UID_LIST, vr: 'UI', text: kept.join('\\') }],
    op.transferSyntax,
  );
}

export async function runMove(op: Operation, model: InformationModel): Promise<void> {
  const field = CommandField.CMoveRsp;
  const destinationAe = op.command.moveDestination ?? '';
  const peer = destinationAe ? await op.services.destination(destinationAe) : undefined;
  if (!peer) {
    await respond(op, field, QrStatus.MoveDestinationUnknown, {
      comment: `move destination "${destinationAe}" is not an SCU`,
    });
    return;
  }
  const listed = await instancesToSend(op, field, model);
  if (!listed) return;
  const progress = new Progress(listed.files.length);
  let reported = Promise.resolve();
  const onResult = (r: StoreResult) => {
    progress.record(r.sopInstanceUid, r.status, r.comment);
    const counts = { ...progress.counts };
    if (counts.remaining > 0)
      reported = reported.then(() => respond(op, field, QrStatus.Pending, { counts }));
  };
  const target = {
    host: peer.host,
    port: peer.port,
    calledAe: peer.aeTitle,
    callingAe: op.ourAe,
    // Each C-STORE names the C-MOVE it serves (PS3.7 9.1.1.1), so the destination can tell whose it is.
    moveOriginator: { aeTitle: op.channel.callingAe, messageId: op.command.messageId },
  };
  const sent = new Set<string>();
  for (const group of associationGroups(listed.files)) {
    if (op.signal.aborted) break;
    try {
      await storeFiles(
        target,
        group,
        (r) => {
          sent.add(r.sopInstanceUid);
          onResult(r);
        },
        op.services.decompress,
        op.signal,
      );
    } catch (err) {
      // The destination cannot be reached or refuses: what is left fails with that reason.
      const reason = (err as Error).message;
      for (const f of listed.files)
        if (!sent.has(f.sopInstanceUid)) progress.record(f.sopInstanceUid, -1, reason);
      break;
    }
  }
  await reported;
  await finish(op, field, progress);
}

export async function runGet(op: Operation, model: InformationModel): Promise<void> {
  const field = CommandField.CGetRsp;
  const listed = await instancesToSend(op, field, model);
  if (!listed) return;
  const progress = new Progress(listed.files.length);
  for (const file of listed.files) {
    if (op.signal.aborted) break;
    const { status, comment } = await storeBack(op, file);
    progress.record(file.sopInstanceUid, status, comment);
    if (progress.counts.remaining > 0)
      await respond(op, field, QrStatus.Pending, { counts: progress.counts });
  }
  await finish(op, field, progress);
}

/**
 * One C-GET sub-operation: the file in its stored syntax on a context that accepted it, else on the first
 * that accepted a fallback (re-encoded or decompressed); -1 when the requester proposed none for its class.
 */
async function storeBack(op: Operation, file: StoredFile): Promise<{ status: number; comment?: string }> {
  const syntaxes = syntaxesToPropose(file.transferSyntaxUid);
  let chosen: { contextId: number; transferSyntax: string } | undefined;
  for (const ts of syntaxes) {
    for (const [contextId, c] of op.channel.contexts)
      if (c.abstractSyntax === file.sopClassUid && c.transferSyntax === ts) {
        chosen = { contextId, transferSyntax: ts };
        break;
      }
    if (chosen) break;
  }
  if (!chosen)
    return {
      status: -1,
      comment: `no storage context for ${file.sopClassUid} in ${syntaxes.join(' or ')}`,
    };
  let dataset;
  try {
    dataset =
      chosen.transferSyntax === file.transferSyntaxUid
        ? await storedDataset(file.object)
        : await reencode(file, chosen.transferSyntax, op.services.decompress);
  } catch (err) {
    const what = needsDecompression(file.transferSyntaxUid) ? 'decompress' : 're-encode';
    return { status: -1, comment: `cannot ${what} ${file.sopInstanceUid}: ${(err as Error).message}` };
  }
  const { contextId } = chosen;
  return op.storeOnAssociation((messageId) =>
    writeStoreRequest(op.channel, contextId, messageId, file, dataset),
  );
}
