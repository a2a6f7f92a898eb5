/**
 * One association, from A-ASSOCIATE-RQ to release or abort. C-ECHO is answered at once; a C-STORE's
 * dataset is gathered by a DatasetReceiver and its response sent only when `store` resolves (after the
 * pipeline has settled the instance). Responses and the release answer leave in request order.
 */
import type { Socket } from 'node:net';
import {
  ContextResult,
  encodeAbort,
  encodeAssociateAc,
  encodeAssociateRj,
  encodePData,
  encodeReleaseRp,
  parseAssociateRq,
  parsePData,
  PduReader,
  PduType,
  ProtocolError,
  RejectReason,
  APPLICATION_CONTEXT,
  type AssociateRq,
  type ContextAnswer,
} from '../pdu.js';
import {
  CommandField,
  encodeResponse,
  parseCommand,
  Status,
  VERIFICATION,
  type Command,
} from '../commands.js';
import { DatasetReceiver } from './dataset-receiver.js';
import type { Landing } from '../../pipeline/landing.js';
import type { SourceRef } from '../../pipeline/envelope.js';
import { buildFileMeta, IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME } from '../../dicom/part10.js';

export interface StoreRequest {
  command: Command;
  transferSyntaxUid: string;
  callingAe: string;
  receiver: DatasetReceiver;
}

export interface ConnectionOptions {
  /** Too many associations already: read the request, then refuse it (transient, local limit exceeded). */
  overLimit?: boolean;
  ourAe: string;
  requireCalledAe: boolean;
  maxPduLength: number;
  timeoutMs: number;
  landing: Landing;
  ref: SourceRef;
  acceptsAbstractSyntax(uid: string): boolean;
  transferSyntaxes: readonly string[];
  /** Stores one instance; resolves with the C-STORE status (and an error comment). */
  store(request: StoreRequest): Promise<{ status: number; comment?: string }>;
}

interface Incoming {
  command: Command;
  contextId: number;
  receiver?: DatasetReceiver;
}

export class ScpConnection {
  private readonly reader: PduReader;
  private association: AssociateRq | undefined;
  private readonly accepted = new Map<number, string>();
  private commandChunks: Buffer[] = [];
  private incoming: Incoming | undefined;
  private work: Promise<void> = Promise.resolve();
  private pendingWork = 0;
  private closed = false;

  constructor(
    private readonly socket: Socket,
    private readonly opts: ConnectionOptions,
  ) {
    this.reader = new PduReader(opts.maxPduLength);
    socket.setNoDelay(true);
    socket.setTimeout(opts.timeoutMs, () => this.abort(0));
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => this.close());
    socket.on('close', () => this.close());
  }

  private onData(chunk: Buffer): void {
    if (this.closed) return;
    this.reader.push(chunk);
    try {
      for (let pdu = this.reader.next(); pdu && !this.closed; pdu = this.reader.next())
        this.onPdu(pdu.type, pdu.body);
    } catch (err) {
      if (err instanceof ProtocolError) this.abort(2);
      else throw err;
    }
  }

  private onPdu(type: number, body: Buffer): void {
    if (!this.association) {
      if (type !== PduType.AssociateRq)
        throw new ProtocolError(`PDU 0x${type.toString(16)} before association`);
      this.onAssociateRq(parseAssociateRq(body));
      return;
    }
    switch (type) {
      case PduType.PData:
        for (const pdv of parsePData(body)) this.onPdv(pdv.contextId, pdv.isCommand, pdv.isLast, pdv.value);
        return;
      case PduType.ReleaseRq:
        this.schedule(async () => {
          this.send(encodeReleaseRp());
          this.socket.end();
        });
        return;
      case PduType.Abort:
        this.close();
        this.socket.destroy();
        return;
      default:
        throw new ProtocolError(`unexpected PDU 0x${type.toString(16)} during an association`);
    }
  }

  private onAssociateRq(rq: AssociateRq): void {
    if (this.opts.overLimit) {
      this.reject(RejectReason.LocalLimitExceeded, 2, 3);
      return;
    }
    if (rq.applicationContext !== APPLICATION_CONTEXT) {
      this.reject(RejectReason.ApplicationContextNotSupported);
      return;
    }
    if (this.opts.requireCalledAe && rq.calledAe !== this.opts.ourAe) {
      this.reject(RejectReason.CalledAeNotRecognized);
      return;
    }
    const answers: ContextAnswer[] = rq.contexts.map((c) => {
      if (c.abstractSyntax !== VERIFICATION && !this.opts.acceptsAbstractSyntax(c.abstractSyntax))
        return {
          id: c.id,
          result: ContextResult.AbstractSyntaxNotSupported,
          transferSyntax: c.transferSyntaxes[0] ?? '',
        };
      const ts = c.transferSyntaxes.find((t) => this.opts.transferSyntaxes.includes(t));
      if (!ts)
        return {
          id: c.id,
          result: ContextResult.TransferSyntaxesNotSupported,
          transferSyntax: c.transferSyntaxes[0] ?? '',
        };
      this.accepted.set(c.id, ts);
      return { id: c.id, result: ContextResult.Acceptance, transferSyntax: ts };
    });
    this.association = rq;
    this.send(
      encodeAssociateAc(rq, answers, {
        maxPduLength: this.opts.maxPduLength,
        implementationClassUid: IMPLEMENTATION_CLASS_UID,
        implementationVersionName: IMPLEMENTATION_VERSION_NAME,
      }),
    );
  }

  private onPdv(contextId: number, isCommand: boolean, isLast: boolean, value: Buffer): void {
    const ts = this.accepted.get(contextId);
    if (ts === undefined)
      throw new ProtocolError(`PDV on presentation context ${contextId}, which was not accepted`);
    if (isCommand) {
      if (this.incoming) throw new ProtocolError('a command arrived before the previous dataset ended');
      this.commandChunks.push(value);
      if (!isLast) return;
      const command = parseCommand(Buffer.concat(this.commandChunks));
      this.commandChunks = [];
      this.onCommand(command, contextId, ts);
      return;
    }
    const incoming = this.incoming;
    if (!incoming || incoming.contextId !== contextId)
      throw new ProtocolError('dataset PDV without a command');
    incoming.receiver?.push(value);
    if (!isLast) return;
    this.incoming = undefined;
    if (!incoming.receiver) {
      this.respond(
        contextId,
        incoming.command,
        incoming.command.commandField | 0x8000,
        Status.UnrecognizedOperation,
      );
      return;
    }
    const request: StoreRequest = {
      command: incoming.command,
      transferSyntaxUid: ts,
      callingAe: this.association!.callingAe,
      receiver: incoming.receiver,
    };
    this.schedule(async () => {
      const { status, comment } = await this.opts.store(request).catch((err: Error) => ({
        status: Status.OutOfResources,
        comment: err.message,
      }));
      this.send(
        encodePData(
          contextId,
          true,
          encodeResponse(request.command, CommandField.CStoreRsp, status, comment),
        ),
      );
    });
  }

  private onCommand(command: Command, contextId: number, ts: string): void {
    if (command.commandField === CommandField.CEchoRq) {
      this.respond(contextId, command, CommandField.CEchoRsp, Status.Success);
      return;
    }
    if (command.commandField === CommandField.CStoreRq && command.hasDataset) {
      const meta = buildFileMeta({
        sopClassUid: command.affectedSopClassUid,
        sopInstanceUid: command.affectedSopInstanceUid,
        transferSyntaxUid: ts,
        sourceAeTitle: this.association!.callingAe,
      });
      this.incoming = {
        command,
        contextId,
        receiver: new DatasetReceiver(this.opts.landing, meta, this.opts.ref),
      };
      return;
    }
    // Anything else (C-FIND, C-MOVE, N-…): refused; a dataset that follows is read and discarded.
    if (command.hasDataset) this.incoming = { command, contextId };
    else this.respond(contextId, command, command.commandField | 0x8000, Status.UnrecognizedOperation);
  }

  private respond(contextId: number, command: Command, field: number, status: number): void {
    this.schedule(async () =>
      this.send(encodePData(contextId, true, encodeResponse(command, field, status))),
    );
  }

  /** Runs work in order; while any is pending the socket is not read (the peer waits for answers anyway). */
  private schedule(task: () => Promise<void>): void {
    this.pendingWork++;
    this.socket.pause();
    this.socket.setTimeout(0);
    this.work = this.work
      .then(task)
      .catch(() => this.abort(0))
      .finally(() => {
        if (--this.pendingWork === 0 && !this.closed) {
          this.socket.setTimeout(this.opts.timeoutMs);
          this.socket.resume();
        }
      });
  }

  private send(pdu: Buffer): void {
    if (!this.closed) this.socket.write(pdu);
  }

  private reject(reason: number, result?: number, source?: number): void {
    this.send(encodeAssociateRj(reason, result, source));
    this.socket.end();
    this.closed = true;
  }

  private abort(reason: number): void {
    if (this.closed) return;
    this.send(encodeAbort(reason));
    this.close();
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    void this.incoming?.receiver?.abort();
    this.incoming = undefined;
  }
}
