/**
 * DIMSE command sets (PS3.7 §9, §E): group 0000, always implicit VR little endian.
 */
import { Encoder } from '../dicom/encode.js';
import { DatasetWalker } from '../dicom/walker.js';
import { ProtocolError } from './pdu.js';

/** The Verification SOP class, which C-ECHO uses. */
export const VERIFICATION = '1.2.840.10008.1.1';

export const CommandField = {
  CStoreRq: 0x0001,
  CStoreRsp: 0x8001,
  CEchoRq: 0x0030,
  CEchoRsp: 0x8030,
  CFindRq: 0x0020,
  CFindRsp: 0x8020,
  CGetRq: 0x0010,
  CGetRsp: 0x8010,
  CMoveRq: 0x0021,
  CMoveRsp: 0x8021,
  CCancelRq: 0x0fff,
} as const;

export const NO_DATASET = 0x0101;
const DATASET_PRESENT = 0x0000;

export const Status = {
  Success: 0x0000,
  UnrecognizedOperation: 0x0211,
  OutOfResources: 0xa700,
  DataSetDoesNotMatchSopClass: 0xa900,
  CannotUnderstand: 0xc000,
} as const;

export interface Command {
  commandField: number;
  messageId: number;
  affectedSopClassUid: string;
  affectedSopInstanceUid: string;
  hasDataset: boolean;
  /** (0000,0120): which request a response or a C-CANCEL is about; -1 when absent. */
  messageIdBeingRespondedTo?: number;
  /** (0000,0600) of a C-MOVE-RQ. */
  moveDestination?: string;
  /** (0000,0900) of a response; -1 when absent. */
  status?: number;
}

/**
 * A command set that cannot be read whole (an element overruns it or lies outside group 0000, CommandField
 * is missing): what was read before the fault comes along, so that a request whose Message ID was read can
 * still be answered with a failure instead of an A-ABORT.
 */
export class UnreadableCommandError extends ProtocolError {
  constructor(
    message: string,
    /** The elements read before the fault (-1 and '' for those not reached). */
    readonly partial: Command,
    /** Whether CommandDataSetType (0000,0800) was read, so that `partial.hasDataset` can be trusted. */
    readonly datasetTypeRead: boolean,
  ) {
    super(message);
    this.name = 'UnreadableCommandError';
  }
}

export function parseCommand(buf: Buffer): Command {
  const cmd: Command = {
    commandField: -1,
    messageId: -1,
    affectedSopClassUid: '',
    affectedSopInstanceUid: '',
    hasDataset: false,
    messageIdBeingRespondedTo: -1,
    moveDestination: '',
    status: -1,
  };
  const walker = new DatasetWalker(buf, false, true);
  let datasetTypeRead = false;
  const unreadable = (message: string) => new UnreadableCommandError(message, cmd, datasetTypeRead);
  let offset = 0;
  while (offset + 8 <= buf.length) {
    const { tag, length: len } = walker.header(offset);
    const group = tag >>> 16;
    const element = tag & 0xffff;
    const start = offset + 8;
    const name = `(${group.toString(16).padStart(4, '0')},${element.toString(16).padStart(4, '0')})`;
    if (start + len > buf.length) throw unreadable(`command element ${name} overruns the command set`);
    if (group !== 0x0000) throw unreadable(`command set holds ${name}, outside group 0000`);
    const str = () => buf.toString('latin1', start, start + len).replace(/[\0 ]+$/, '');
    const us = () => (len >= 2 ? buf.readUInt16LE(start) : -1);
    switch (element) {
      case 0x0002:
        cmd.affectedSopClassUid = str();
        break;
      case 0x0100:
        cmd.commandField = us();
        break;
      case 0x0110:
        cmd.messageId = us();
        break;
      case 0x0120:
        cmd.messageIdBeingRespondedTo = us();
        break;
      case 0x0600:
        cmd.moveDestination = str().trim();
        break;
      case 0x0900:
        cmd.status = us();
        break;
      case 0x0800:
        cmd.hasDataset = us() !== NO_DATASET;
        datasetTypeRead = len >= 2;
        break;
      case 0x1000:
        cmd.affectedSopInstanceUid = str();
        break;
    }
    offset = start + len;
  }
  if (cmd.commandField < 0) throw unreadable('command set without CommandField (0000,0100)');
  return cmd;
}

/** Command sets are always implicit VR little endian. */
const commandSet = new Encoder(false, true);
const us = (v: number) => {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(v);
  return b;
};
/** A command set: its elements behind the group length. */
export const withGroupLength = (parts: Buffer[]): Buffer => {
  const body = Buffer.concat(parts);
  const groupLength = Buffer.alloc(4);
  groupLength.writeUInt32LE(body.length);
  return Buffer.concat([commandSet.encode(0x00000000, 'UL', groupLength), body]);
};

/** A response command set: elements in tag order behind the group length. */
export function encodeResponse(
  request: Command,
  responseField: number,
  status: number,
  errorComment?: string,
): Buffer {
  const parts: Buffer[] = [];
  if (request.affectedSopClassUid)
    parts.push(commandSet.encodeText(0x00000002, 'UI', request.affectedSopClassUid));
  parts.push(commandSet.encode(0x00000100, 'US', us(responseField)));
  parts.push(commandSet.encode(0x00000120, 'US', us(request.messageId)));
  parts.push(commandSet.encode(0x00000800, 'US', us(NO_DATASET)));
  parts.push(commandSet.encode(0x00000900, 'US', us(status)));
  if (errorComment)
    parts.push(
      commandSet.encodeText(0x00000902, 'LO', errorComment.replace(/[^\x20-\x7e]/g, ' ').slice(0, 64)),
    );
  if (request.affectedSopInstanceUid)
    parts.push(commandSet.encodeText(0x00001000, 'UI', request.affectedSopInstanceUid));
  return withGroupLength(parts);
}

/** The C-MOVE a C-STORE is a sub-operation of (PS3.7 9.1.1.1): who asked, and its message. */
export interface MoveOriginator {
  /** Move Originator Application Entity Title (0000,1030): the C-MOVE requester's calling AE title. */
  aeTitle: string;
  /** Move Originator Message ID (0000,1031): the Message ID of its C-MOVE-RQ. */
  messageId: number;
}

/** A request command set (C-STORE-RQ, C-ECHO-RQ). */
export function encodeRequest(
  field: number,
  messageId: number,
  affectedSopClassUid: string,
  affectedSopInstanceUid?: string,
  moveOriginator?: MoveOriginator,
): Buffer {
  const parts: Buffer[] = [commandSet.encodeText(0x00000002, 'UI', affectedSopClassUid)];
  parts.push(commandSet.encode(0x00000100, 'US', us(field)));
  parts.push(commandSet.encode(0x00000110, 'US', us(messageId)));
  if (field === CommandField.CStoreRq) parts.push(commandSet.encode(0x00000700, 'US', us(0))); // priority MEDIUM
  parts.push(
    commandSet.encode(0x00000800, 'US', us(field === CommandField.CStoreRq ? DATASET_PRESENT : NO_DATASET)),
  );
  if (affectedSopInstanceUid) parts.push(commandSet.encodeText(0x00001000, 'UI', affectedSopInstanceUid));
  if (moveOriginator) {
    parts.push(commandSet.encodeText(0x00001030, 'AE', moveOriginator.aeTitle));
    parts.push(commandSet.encode(0x00001031, 'US', us(moveOriginator.messageId)));
  }
  return withGroupLength(parts);
}

/** The Status (0000,0900) and ErrorComment (0000,0902) of a response command set. */
export function parseStatus(buf: Buffer): { status: number; comment?: string } {
  let offset = 0;
  let status = -1;
  let comment: string | undefined;
  const walker = new DatasetWalker(buf, false, true);
  while (offset + 8 <= buf.length) {
    const { tag, length: len } = walker.header(offset);
    const element = tag & 0xffff;
    const start = offset + 8;
    if (start + len > buf.length) throw new ProtocolError('response element overruns the command');
    if (element === 0x0900 && len >= 2) status = buf.readUInt16LE(start);
    if (element === 0x0902) comment = buf.toString('latin1', start, start + len).trim();
    offset = start + len;
  }
  if (status < 0) throw new ProtocolError('response without Status');
  return { status, comment };
}
