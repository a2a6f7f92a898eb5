/**
 * The command sets of Query/Retrieve responses (PS3.7 9.3.2–9.3.4): C-FIND-RSP, C-MOVE-RSP and C-GET-RSP,
 * with their status, error comment, offending elements and sub-operation counts, elements in tag order.
 */
import { Encoder } from '../../dicom/encode.js';
import { NO_DATASET, withGroupLength, type Command } from '../commands.js';

const commandSet = new Encoder(false, true);
const us = (v: number) => {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(v);
  return b;
};

export const QrStatus = {
  Success: 0x0000,
  Pending: 0xff00,
  /** Pending, some optional keys were not supported for matching (C.4.1.1.4). */
  PendingWarning: 0xff01,
  Cancel: 0xfe00,
  /** Sub-operations complete, one or more failures or warnings. */
  SubOperationsFailed: 0xb000,
  OutOfResources: 0xa700,
  /** C-MOVE and C-GET: unable to perform sub-operations. */
  UnableToPerformSubOperations: 0xa702,
  MoveDestinationUnknown: 0xa801,
  IdentifierDoesNotMatchSopClass: 0xa900,
  UnableToProcess: 0xc000,
} as const;

/** Sub-operation counts of a C-MOVE or C-GET response (remaining only in pending and cancel responses). */
export interface SubOperationCounts {
  remaining?: number;
  completed: number;
  failed: number;
  warning: number;
}

export interface ResponseOptions {
  /** An identifier follows the command (pending C-FIND matches; failed SOP instance lists). */
  dataset?: boolean;
  /** Error Comment (0000,0902): 64 characters of the reason, never patient data. */
  comment?: string;
  /** Offending Element (0000,0901): the tags of the identifier that caused the failure. */
  offending?: number[];
  counts?: SubOperationCounts;
}

/** A Q/R response command set answering `request`. */
export function encodeQrResponse(
  request: Command,
  responseField: number,
  status: number,
  options: ResponseOptions = {},
): Buffer {
  const parts: Buffer[] = [];
  if (request.affectedSopClassUid)
    parts.push(commandSet.encodeText(0x00000002, 'UI', request.affectedSopClassUid));
  parts.push(commandSet.encode(0x00000100, 'US', us(responseField)));
  parts.push(commandSet.encode(0x00000120, 'US', us(request.messageId)));
  parts.push(commandSet.encode(0x00000800, 'US', us(options.dataset ? 0x0000 : NO_DATASET)));
  parts.push(commandSet.encode(0x00000900, 'US', us(status)));
  if (options.offending?.length) {
    const at = Buffer.alloc(4 * options.offending.length);
    options.offending.forEach((tag, i) => {
      at.writeUInt16LE(tag >>> 16, 4 * i);
      at.writeUInt16LE(tag & 0xffff, 4 * i + 2);
    });
    parts.push(commandSet.encode(0x00000901, 'AT', at));
  }
  if (options.comment)
    parts.push(
      commandSet.encodeText(0x00000902, 'LO', options.comment.replace(/[^\x20-\x7e]/g, ' ').slice(0, 64)),
    );
  const counts = options.counts;
  if (counts) {
    if (counts.remaining !== undefined)
      parts.push(commandSet.encode(0x00001020, 'US', us(clamp(counts.remaining))));
    parts.push(commandSet.encode(0x00001021, 'US', us(clamp(counts.completed))));
    parts.push(commandSet.encode(0x00001022, 'US', us(clamp(counts.failed))));
    parts.push(commandSet.encode(0x00001023, 'US', us(clamp(counts.warning))));
  }
  return withGroupLength(parts);
}

/** Counts are US: a retrieve of more than 65,535 instances reports 65,535 until it is below. */
const clamp = (n: number) => Math.min(0xffff, Math.max(0, n));
