/**
 * A Query/Retrieve requestor for tests that need what DCMTK's tools cannot script: a C-CANCEL at a chosen
 * moment (before any response, between C-GET sub-operations), and responses and identifiers read exactly.
 */
import { connect, type Socket } from 'node:net';
import { Encoder } from '../../src/dicom/encode.js';
import { CommandField, encodeResponse, parseCommand, type Command } from '../../src/dimse/commands.js';
import {
  encodeAssociateRq,
  encodePData,
  parseAssociateAc,
  parsePData,
  PduReader,
  PduType,
  type ProposedContext,
  type RoleSelection,
} from '../../src/dimse/pdu.js';
import { encodeIdentifier, parseIdentifier, type ResponseElement } from '../../src/dimse/qr/identifier.js';
import { withGroupLength } from '../../src/dimse/commands.js';

const commandSet = new Encoder(false, true);
const us = (v: number) => {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(v);
  return b;
};

/** A request command set: C-FIND/C-MOVE/C-GET-RQ (with an identifier) or C-CANCEL-RQ. */
export function requestCommand(
  field: number,
  opts: { sopClassUid?: string; messageId?: number; respondedTo?: number; moveDestination?: string },
): Buffer {
  const parts: Buffer[] = [];
  if (opts.sopClassUid) parts.push(commandSet.encodeText(0x00000002, 'UI', opts.sopClassUid));
  parts.push(commandSet.encode(0x00000100, 'US', us(field)));
  if (opts.messageId !== undefined) parts.push(commandSet.encode(0x00000110, 'US', us(opts.messageId)));
  if (opts.respondedTo !== undefined) parts.push(commandSet.encode(0x00000120, 'US', us(opts.respondedTo)));
  if (opts.moveDestination) parts.push(commandSet.encodeText(0x00000600, 'AE', opts.moveDestination));
  if (field !== CommandField.CCancelRq) parts.push(commandSet.encode(0x00000700, 'US', us(0)));
  parts.push(commandSet.encode(0x00000800, 'US', us(field === CommandField.CCancelRq ? 0x0101 : 0x0000)));
  return withGroupLength(parts);
}

export interface Message {
  contextId: number;
  command: Command;
  /** Raw command bytes (for elements parseCommand does not keep). */
  commandBytes: Buffer;
  dataset?: Buffer;
}

export class QrClient {
  private readonly reader = new PduReader(16 * 1024 * 1024);
  private readonly messages: Message[] = [];
  private waiting: (() => void) | undefined;
  private commandParts: Buffer[] = [];
  private datasetParts: Buffer[] = [];
  private pendingCommand: { contextId: number; command: Command; bytes: Buffer } | undefined;
  private pdus: Array<{ type: number; body: Buffer }> = [];
  accepted = new Map<number, string>();
  /** Each proposed context's result in the A-ASSOCIATE-AC (0 acceptance, 3 abstract syntax not supported…). */
  results = new Map<number, number>();
  closed = false;

  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.reader.push(chunk);
      for (let pdu = this.reader.next(); pdu; pdu = this.reader.next()) this.onPdu(pdu);
      this.waiting?.();
    });
    socket.on('close', () => {
      this.closed = true;
      this.waiting?.();
    });
  }

  static async open(
    port: number,
    contexts: ProposedContext[],
    opts: { callingAe?: string; roles?: RoleSelection[] } = {},
  ): Promise<QrClient> {
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port, noDelay: true }, () => resolve(s));
      s.once('error', reject);
    });
    const client = new QrClient(socket);
    socket.write(
      encodeAssociateRq({
        calledAe: 'SLUICE',
        callingAe: opts.callingAe ?? 'QRTEST',
        contexts,
        maxPduLength: 16384,
        implementationClassUid: '1.2.3.4',
        implementationVersionName: 'QRTEST',
        roles: opts.roles,
      }),
    );
    const pdu = await client.nextPdu();
    if (pdu.type !== PduType.AssociateAc) throw new Error(`association refused (PDU ${pdu.type})`);
    for (const r of parseAssociateAc(pdu.body).results) {
      client.results.set(r.id, r.result);
      if (r.result === 0) client.accepted.set(r.id, r.transferSyntax);
    }
    return client;
  }

  private onPdu(pdu: { type: number; body: Buffer }): void {
    if (pdu.type !== PduType.PData) {
      this.pdus.push(pdu);
      return;
    }
    for (const pdv of parsePData(pdu.body)) {
      if (pdv.isCommand) {
        this.commandParts.push(Buffer.from(pdv.value));
        if (!pdv.isLast) continue;
        const bytes = Buffer.concat(this.commandParts);
        this.commandParts = [];
        const command = parseCommand(bytes);
        if (command.hasDataset) this.pendingCommand = { contextId: pdv.contextId, command, bytes };
        else this.messages.push({ contextId: pdv.contextId, command, commandBytes: bytes });
      } else {
        this.datasetParts.push(Buffer.from(pdv.value));
        if (!pdv.isLast || !this.pendingCommand) continue;
        const { contextId, command, bytes } = this.pendingCommand;
        this.messages.push({
          contextId,
          command,
          commandBytes: bytes,
          dataset: Buffer.concat(this.datasetParts),
        });
        this.datasetParts = [];
        this.pendingCommand = undefined;
      }
    }
  }

  private async nextPdu(): Promise<{ type: number; body: Buffer }> {
    while (!this.pdus.length) {
      if (this.closed) throw new Error('connection closed');
      await new Promise<void>((r) => (this.waiting = r));
    }
    return this.pdus.shift()!;
  }

  /** The next DIMSE message the SCP sends. */
  async next(timeoutMs = 10_000): Promise<Message> {
    const deadline = Date.now() + timeoutMs;
    while (!this.messages.length) {
      if (this.closed) throw new Error('connection closed');
      if (Date.now() > deadline) throw new Error('no message in time');
      await new Promise<void>((r) => {
        this.waiting = r;
        setTimeout(r, 50);
      });
    }
    return this.messages.shift()!;
  }

  /** Writes PDUs at once (a request and a C-CANCEL can arrive in one TCP segment). */
  send(...pdus: Buffer[]): void {
    this.socket.write(Buffer.concat(pdus));
  }

  static requestPdus(contextId: number, command: Buffer, identifier?: ResponseElement[]): Buffer[] {
    const pdus = [encodePData(contextId, true, command)];
    if (identifier)
      pdus.push(encodePData(contextId, false, encodeIdentifier(identifier, '1.2.840.10008.1.2.1')));
    return pdus;
  }

  /** A C-STORE-RSP to a C-STORE-RQ the SCP sent (C-GET sub-operation). */
  static storeResponse(request: Message, status = 0): Buffer {
    return encodePData(
      request.contextId,
      true,
      encodeResponse(request.command, CommandField.CStoreRsp, status),
    );
  }

  static identifier(message: Message): Map<number, string> {
    return new Map(
      parseIdentifier(message.dataset ?? Buffer.alloc(0), '1.2.840.10008.1.2.1').elements.map((e) => [
        e.tag,
        e.text,
      ]),
    );
  }

  /** A US element of the command set (sub-operation counts). */
  static commandValue(message: Message, element: number): number | undefined {
    const b = message.commandBytes;
    for (let o = 0; o + 8 <= b.length;) {
      const len = b.readUInt32LE(o + 4);
      if (b.readUInt16LE(o + 2) === element) return len >= 2 ? b.readUInt16LE(o + 8) : undefined;
      o += 8 + len;
    }
    return undefined;
  }

  close(): void {
    this.socket.destroy();
  }
}
