/**
 * One association, from A-ASSOCIATE-RQ to release or abort. C-ECHO is answered at once; a C-STORE's
 * dataset is gathered by a DatasetReceiver and its response sent only when `store` resolves (after the
 * pipeline has settled the instance). Responses and the release answer leave in request order.
 *
 * A peer gets only what it is due: before its association is accepted it may send one A-ASSOCIATE-RQ of
 * at most MAX_ASSOCIATE_RQ bytes within the request timeout (the ARTIM timer of PS3.8), and it is refused
 * as soon as the request's header shows it is not one or the association slots are full; once associated,
 * each PDU must complete within the association timeout of the previous one, so trickling bytes does not
 * keep an association alive.
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
  parsePDataParts,
  PduReader,
  PduType,
  ProtocolError,
  RejectReason,
  APPLICATION_CONTEXT,
  type AssociateRq,
  type ContextAnswer,
  type RoleSelection,
} from '../pdu.js';
import {
  CommandField,
  encodeResponse,
  parseCommand,
  Status,
  UnreadableCommandError,
  VERIFICATION,
  type Command,
} from '../commands.js';
import { DatasetReceiver } from './dataset-receiver.js';
import type { ScpLimits } from './limits.js';
import type { BlobDraft } from '../../storage/blob-store.js';
import type { Landing } from '../../pipeline/landing.js';
import type { SourceRef } from '../../pipeline/origin.js';
import { buildFileMeta, IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME } from '../../dicom/part10.js';
import type { QueryRetrieveProvider, QueryRetrieveSession } from '../qr/session.js';
import { associationChannel } from './association-channel.js';

/** An A-ASSOCIATE-RQ is a few KB (DCMTK's storescu proposing 120 contexts: ~13 KB). */
export const MAX_ASSOCIATE_RQ = 64 * 1024;
/** A Q/R identifier is a few hundred bytes of keys. */
const MAX_IDENTIFIER = 1024 * 1024;

export interface StoreRequest {
  command: Command;
  transferSyntaxUid: string;
  callingAe: string;
  receiver: DatasetReceiver;
}

/** What an association did, for logs and metrics (src/ops/scp-activity.ts). */
export interface AssociationObserver {
  accepted(rq: AssociateRq): void;
  /** Refused before an association existed: reason and source codes of PS3.8 (RejectReason). */
  refused(reason: number, source: number): void;
  /** A C-STORE answered, with the dataset's size and our status. */
  stored(sopInstanceUid: string, bytes: number, status: number): void;
  /** The association ended: released by the peer, aborted (by either side) or its connection lost. */
  ended(how: 'released' | 'aborted' | 'closed'): void;
}

export interface ConnectionOptions {
  /** Association and handshake slots and the memory budget, shared by the SCP's connections. */
  limits: ScpLimits;
  ourAe: string;
  requireCalledAe: boolean;
  maxPduLength: number;
  /** How long an association may go without a complete PDU (a partial one does not count). */
  timeoutMs: number;
  /** How long a new connection has to complete its A-ASSOCIATE-RQ. */
  requestTimeoutMs: number;
  landing: Landing;
  ref: SourceRef;
  acceptsAbstractSyntax(uid: string): boolean;
  transferSyntaxes: readonly string[];
  /** Starts writing the dataset of an announced SOP instance into storage as it arrives, if wanted. */
  draft?(sopInstanceUid: string): BlobDraft | undefined;
  /** Stores one instance; resolves with the C-STORE status (and an error comment). */
  store(request: StoreRequest): Promise<{ status: number; comment?: string }>;
  observer?: AssociationObserver;
  /** C-FIND, C-MOVE and C-GET, when this SCP offers them (src/dimse/qr). */
  queryRetrieve?: QueryRetrieveProvider;
}

interface Incoming {
  command: Command;
  contextId: number;
  receiver?: DatasetReceiver;
  /** A Q/R request's identifier, gathered in memory. */
  identifier?: { chunks: Buffer[]; size: number };
  /** The answer to a request refused before its dataset (read and discarded) has ended. */
  refusal?: { status: number; comment: string };
}

/** Requests that carry a dataset (PS3.7 9.3), should an unreadable command set not say. */
const WITH_DATASET: ReadonlySet<number> = new Set([
  CommandField.CStoreRq,
  CommandField.CFindRq,
  CommandField.CMoveRq,
  CommandField.CGetRq,
]);
/** Requests an unreadable command set is answered to, when its Message ID was read. */
const ANSWERABLE: ReadonlySet<number> = new Set([...WITH_DATASET, CommandField.CEchoRq]);

export class ScpConnection {
  private readonly reader: PduReader;
  private association: AssociateRq | undefined;
  private readonly accepted = new Map<number, string>();
  private commandChunks: Buffer[] = [];
  private incoming: Incoming | undefined;
  private work: Promise<void> = Promise.resolve();
  private pendingWork = 0;
  private closed = false;
  private timer: NodeJS.Timeout | undefined;
  private ending: 'released' | 'aborted' | undefined;
  private queryRetrieve: QueryRetrieveSession | undefined;
  /** An A-ASSOCIATE-RQ waits for Q/R to look its caller up: nothing more is read until it is answered. */
  private deciding = false;

  constructor(
    private readonly socket: Socket,
    private readonly opts: ConnectionOptions,
  ) {
    this.reader = new PduReader(opts.maxPduLength);
    socket.setNoDelay(true);
    socket.on('error', () => this.close());
    socket.on('close', () => this.close());
    if (!opts.limits.openHandshake()) {
      // Too many connections that have not associated yet: this one is not even read.
      this.closed = true;
      socket.destroy();
      return;
    }
    this.arm(opts.requestTimeoutMs);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
  }

  /** (Re)starts the one timer: whatever the connection waits for must come before it fires. */
  private arm(ms: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => (this.association ? this.abort(0) : this.drop()), ms);
  }

  private onData(chunk: Buffer): void {
    if (this.closed) return;
    this.reader.push(chunk);
    this.readPdus();
  }

  private readPdus(): void {
    try {
      if (this.deciding || !this.checkHeader()) return;
      while (!this.closed && !this.deciding) {
        const pdu = this.reader.nextParts();
        if (!pdu) break;
        this.onPdu(pdu.type, pdu.parts);
        // Only a complete PDU restarts the clock: a peer trickling bytes runs out of time.
        if (!this.closed && this.association && this.pendingWork === 0) this.arm(this.opts.timeoutMs);
      }
    } catch (err) {
      if (err instanceof ProtocolError) this.abort(2);
      else throw err;
    }
  }

  /**
   * What a PDU's header already tells, before its body is read: before an association, the first PDU must
   * be an A-ASSOCIATE-RQ of a plausible size, and there must be an association slot for it; during one,
   * only P-DATA-TF may be large (PduReader holds it to the negotiated maximum).
   */
  private checkHeader(): boolean {
    const header = this.reader.header();
    if (!header) return true;
    if (this.association) {
      if (header.type !== PduType.PData && header.length > 1024)
        throw new ProtocolError(`PDU 0x${header.type.toString(16)} of ${header.length} bytes`);
      return true;
    }
    if (header.type !== PduType.AssociateRq)
      throw new ProtocolError(`PDU 0x${header.type.toString(16)} before association`);
    if (header.length > MAX_ASSOCIATE_RQ)
      throw new ProtocolError(`A-ASSOCIATE-RQ of ${header.length} bytes (at most ${MAX_ASSOCIATE_RQ})`);
    if (this.opts.limits.associationsFull) {
      this.reject(RejectReason.LocalLimitExceeded, 2, 3);
      return false;
    }
    return true;
  }

  /** A PDU whose body arrived in `parts`: P-DATA values are passed on as they are, other PDUs joined. */
  private onPdu(type: number, parts: Buffer[]): void {
    if (!this.association) {
      if (type !== PduType.AssociateRq)
        throw new ProtocolError(`PDU 0x${type.toString(16)} before association`);
      this.onAssociateRq(parseAssociateRq(Buffer.concat(parts)));
      return;
    }
    switch (type) {
      case PduType.PData:
        for (const pdv of parsePDataParts(parts))
          this.onPdv(pdv.contextId, pdv.isCommand, pdv.isLast, pdv.pieces);
        return;
      case PduType.ReleaseRq:
        this.ending ??= 'released';
        this.schedule(async () => {
          this.send(encodeReleaseRp());
          this.socket.end();
        });
        return;
      case PduType.Abort:
        this.ending ??= 'aborted';
        this.close();
        this.socket.destroy();
        return;
      default:
        throw new ProtocolError(`unexpected PDU 0x${type.toString(16)} during an association`);
    }
  }

  private onAssociateRq(rq: AssociateRq): void {
    if (rq.applicationContext !== APPLICATION_CONTEXT) {
      this.reject(RejectReason.ApplicationContextNotSupported);
      return;
    }
    if (this.opts.requireCalledAe && rq.calledAe !== this.opts.ourAe) {
      this.reject(RejectReason.CalledAeNotRecognized);
      return;
    }
    const allowed = this.opts.queryRetrieve?.allows(rq.callingAe) ?? false;
    if (typeof allowed === 'boolean') {
      this.answerAssociateRq(rq, allowed);
      return;
    }
    this.deciding = true;
    this.socket.pause();
    // A lookup that fails refuses Q/R to the caller; storage and echo are still answered.
    void allowed
      .catch(() => false)
      .then((qrAllowed) => {
        this.deciding = false;
        if (this.closed) return;
        this.answerAssociateRq(rq, qrAllowed);
        this.socket.resume();
        this.readPdus();
      });
  }

  private answerAssociateRq(rq: AssociateRq, qrAllowed: boolean): void {
    const qr = this.opts.queryRetrieve;
    const answers: ContextAnswer[] = rq.contexts.map((c) => {
      const isQr = qr?.isQueryRetrieve(c.abstractSyntax) ?? false;
      if (isQr && !qrAllowed)
        return { id: c.id, result: ContextResult.UserRejection, transferSyntax: c.transferSyntaxes[0] ?? '' };
      if (c.abstractSyntax !== VERIFICATION && !isQr && !this.opts.acceptsAbstractSyntax(c.abstractSyntax))
        return {
          id: c.id,
          result: ContextResult.AbstractSyntaxNotSupported,
          transferSyntax: c.transferSyntaxes[0] ?? '',
        };
      const syntaxes = isQr ? qr!.transferSyntaxes : this.opts.transferSyntaxes;
      const ts = c.transferSyntaxes.find((t) => syntaxes.includes(t));
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
    this.opts.limits.openAssociation();
    this.opts.observer?.accepted(rq);
    this.arm(this.opts.timeoutMs);
    let roles: RoleSelection[] = [];
    if (qr && qrAllowed) {
      this.queryRetrieve = qr.open(
        associationChannel(this.socket, rq, this.accepted, {
          timeoutMs: this.opts.timeoutMs,
          isClosed: () => this.closed,
          abort: () => this.abort(0),
        }),
      );
      const accepted = new Set(
        rq.contexts.filter((c) => this.accepted.has(c.id)).map((c) => c.abstractSyntax),
      );
      roles = qr.answerRoles(rq.roles ?? [], accepted);
    }
    this.send(
      encodeAssociateAc(rq, answers, {
        maxPduLength: this.opts.maxPduLength,
        implementationClassUid: IMPLEMENTATION_CLASS_UID,
        implementationVersionName: IMPLEMENTATION_VERSION_NAME,
        roles,
      }),
    );
  }

  private onPdv(contextId: number, isCommand: boolean, isLast: boolean, pieces: Buffer[]): void {
    const ts = this.accepted.get(contextId);
    if (ts === undefined)
      throw new ProtocolError(`PDV on presentation context ${contextId}, which was not accepted`);
    if (isCommand) {
      if (this.incoming) throw new ProtocolError('a command arrived before the previous dataset ended');
      this.commandChunks.push(...pieces);
      if (!isLast) return;
      const bytes = Buffer.concat(this.commandChunks);
      this.commandChunks = [];
      let command: Command;
      try {
        command = parseCommand(bytes);
      } catch (err) {
        if (err instanceof UnreadableCommandError && this.refuseUnreadable(err, contextId)) return;
        throw err;
      }
      this.onCommand(command, contextId, ts);
      return;
    }
    const incoming = this.incoming;
    if (!incoming || incoming.contextId !== contextId)
      throw new ProtocolError('dataset PDV without a command');
    if (incoming.identifier) return this.onIdentifierPdv(incoming, incoming.identifier, pieces, isLast);
    if (incoming.receiver) for (const piece of pieces) incoming.receiver.push(piece);
    if (!isLast) return;
    this.incoming = undefined;
    if (!incoming.receiver) {
      this.respond(
        contextId,
        incoming.command,
        incoming.command.commandField | 0x8000,
        incoming.refusal?.status ?? Status.UnrecognizedOperation,
        incoming.refusal?.comment,
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
      const { status, comment } = await this.opts
        .store(request)
        .catch((err: Error) => ({ status: Status.OutOfResources, comment: err.message }))
        .finally(() => request.receiver.release());
      this.opts.observer?.stored(request.command.affectedSopInstanceUid, request.receiver.bytes, status);
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
        receiver: new DatasetReceiver(
          this.opts.landing,
          meta,
          this.opts.ref,
          this.opts.limits,
          this.opts.draft?.(command.affectedSopInstanceUid),
        ),
      };
      return;
    }
    const qr = this.queryRetrieve;
    if (qr?.isRequest(command)) {
      if (command.hasDataset) this.incoming = { command, contextId, identifier: { chunks: [], size: 0 } };
      else this.runQueryRetrieve(command, contextId, Buffer.alloc(0));
      return;
    }
    if (qr?.notify(command)) return;
    // Anything else (N-…, or Q/R where not offered): refused; a dataset that follows is read and discarded.
    if (command.hasDataset) this.incoming = { command, contextId };
    else this.respond(contextId, command, command.commandField | 0x8000, Status.UnrecognizedOperation);
  }

  private onIdentifierPdv(
    incoming: Incoming,
    identifier: { chunks: Buffer[]; size: number },
    pieces: Buffer[],
    isLast: boolean,
  ): void {
    for (const piece of pieces) {
      identifier.chunks.push(piece);
      identifier.size += piece.length;
    }
    if (identifier.size > MAX_IDENTIFIER)
      throw new ProtocolError(`Q/R identifier of more than ${MAX_IDENTIFIER} bytes`);
    if (!isLast) return;
    this.incoming = undefined;
    this.runQueryRetrieve(incoming.command, incoming.contextId, Buffer.concat(identifier.chunks));
  }

  /**
   * A request whose command set cannot be read whole is answered 0xC000 with the reason (and its dataset,
   * if one follows, read and discarded) when its Message ID and CommandField were read before the fault: the
   * peer learns what is wrong and the association goes on. False when it cannot be answered (A-ABORT).
   */
  private refuseUnreadable(err: UnreadableCommandError, contextId: number): boolean {
    const command = err.partial;
    if (command.messageId < 0 || !ANSWERABLE.has(command.commandField)) return false;
    const refusal = { status: Status.CannotUnderstand, comment: err.message };
    const hasDataset = err.datasetTypeRead ? command.hasDataset : WITH_DATASET.has(command.commandField);
    if (hasDataset) this.incoming = { command, contextId, refusal };
    else this.respond(contextId, command, command.commandField | 0x8000, refusal.status, refusal.comment);
    return true;
  }

  /**
   * A Q/R request runs in turn with the other work, but the socket keeps being read meanwhile: a C-CANCEL,
   * and the C-STORE responses of a C-GET's sub-operations, must reach it while it runs.
   */
  private runQueryRetrieve(command: Command, contextId: number, identifier: Buffer): void {
    const qr = this.queryRetrieve!;
    this.schedule(() => qr.run(command, contextId, identifier), { keepReading: true });
  }

  private respond(
    contextId: number,
    command: Command,
    field: number,
    status: number,
    comment?: string,
  ): void {
    this.schedule(async () =>
      this.send(encodePData(contextId, true, encodeResponse(command, field, status, comment))),
    );
  }

  /**
   * Runs work in order; while any is pending the socket is not read (the peer waits for answers anyway),
   * unless the work needs to hear from the peer (`keepReading`: Q/R operations).
   */
  private schedule(task: () => Promise<void>, options: { keepReading?: boolean } = {}): void {
    this.pendingWork++;
    if (!options.keepReading) this.socket.pause();
    clearTimeout(this.timer);
    this.work = this.work
      .then(task)
      .catch(() => this.abort(0))
      .finally(() => {
        if (--this.pendingWork === 0 && !this.closed) {
          this.arm(this.opts.timeoutMs);
          this.socket.resume();
        }
      });
  }

  private send(pdu: Buffer): void {
    if (!this.closed) this.socket.write(pdu);
  }

  private reject(reason: number, result?: number, source?: number): void {
    this.opts.observer?.refused(reason, source ?? 1);
    this.send(encodeAssociateRj(reason, result, source));
    this.socket.end();
    this.close();
    // The peer's unread request is not waited for.
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }

  /** The SCP is closing: an association is aborted (A-ABORT), a connection still handshaking dropped. */
  stop(): void {
    if (this.association) this.abort(0);
    else this.drop();
  }

  /** A connection that never completed its request: closed without a word (there is no association). */
  private drop(): void {
    this.close();
    this.socket.destroy();
  }

  private abort(reason: number): void {
    if (this.closed) return;
    this.ending ??= 'aborted';
    this.send(encodeAbort(reason));
    this.close();
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    if (this.association) {
      this.opts.limits.closeAssociation();
      this.opts.observer?.ended(this.ending ?? 'closed');
    } else this.opts.limits.closeHandshake();
    this.queryRetrieve?.close();
    void this.incoming?.receiver?.abort();
    this.incoming = undefined;
  }
}
