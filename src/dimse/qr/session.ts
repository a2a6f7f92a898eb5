/**
 * Query/Retrieve on one association: what the SCP connection (src/dimse/scp/connection.ts) hands over and
 * what it gets back. The connection negotiates, gathers each request's identifier and runs the operation in
 * its ordered work without pausing the socket, so that a C-CANCEL, and the C-STORE responses of a C-GET's
 * sub-operations, reach the session while the operation runs.
 */
import { CommandField, type Command } from '../commands.js';
import { encodePData, type RoleSelection } from '../pdu.js';
import { QrStatus, encodeQrResponse } from './messages.js';
import { informationModel } from './sop-classes.js';
import { runFind } from './find.js';
import { runGet, runMove } from './retrieve.js';
import type { QueryRetrieveServices } from './service.js';

/** The association as a Q/R operation sees it. */
export interface AssociationChannel {
  readonly callingAe: string;
  /** The largest PDU the peer takes (from its A-ASSOCIATE-RQ; 0: no limit). */
  readonly peerMaxPduLength: number;
  /** Accepted presentation contexts: id → abstract syntax and the transfer syntax accepted for it. */
  readonly contexts: ReadonlyMap<number, { abstractSyntax: string; transferSyntax: string }>;
  /** How long to wait for the peer (a C-STORE response of a C-GET sub-operation). */
  readonly timeoutMs: number;
  /** Writes PDUs at once (corked); resolves when the socket takes more; rejects once the association is gone. */
  write(pdus: Buffer[]): Promise<void>;
  /** Ends the association with an A-ABORT (the peer stopped answering). */
  abort(): void;
}

/** What the connection asks of Q/R while it negotiates and runs an association. */
export interface QueryRetrieveProvider {
  /** Whether the abstract syntax is a Q/R SOP class (served, or refused to this caller). */
  isQueryRetrieve(abstractSyntax: string): boolean;
  /**
   * Whether this calling AE title may query and retrieve; its Q/R contexts are rejected otherwise. A promise
   * when it must be looked up (a known SCU): the association is answered once it settles.
   */
  allows(callingAe: string): boolean | Promise<boolean>;
  /** Transfer syntaxes Q/R contexts are accepted in. */
  readonly transferSyntaxes: readonly string[];
  /**
   * The role selections to answer: a C-GET requester proposing the SCP role for a storage SOP class gets
   * it (we send it C-STORE requests on its own association).
   */
  answerRoles(proposed: readonly RoleSelection[], accepted: ReadonlySet<string>): RoleSelection[];
  open(channel: AssociationChannel): QueryRetrieveSession;
}

export interface QueryRetrieveSession {
  /** A C-FIND, C-MOVE or C-GET request: the connection gathers its identifier and then calls `run`. */
  isRequest(command: Command): boolean;
  /** Runs one request, answering on the channel; resolves once its final response is written. */
  run(command: Command, contextId: number, identifier: Buffer): Promise<void>;
  /** A C-CANCEL-RQ, or the C-STORE-RSP of one of our sub-operations: true when taken. */
  notify(command: Command): boolean;
  /** The association ended: operations in progress stop. */
  close(): void;
}

const REQUESTS = new Map<number, number>([
  [CommandField.CFindRq, CommandField.CFindRsp],
  [CommandField.CMoveRq, CommandField.CMoveRsp],
  [CommandField.CGetRq, CommandField.CGetRsp],
]);

/** One running request: what it answers on, and how it learns of a C-CANCEL. */
export interface Operation {
  readonly channel: AssociationChannel;
  readonly command: Command;
  readonly contextId: number;
  readonly transferSyntax: string;
  readonly identifier: Buffer;
  readonly signal: AbortSignal;
  readonly services: QueryRetrieveServices;
  /** Our AE title on this SCP (RetrieveAETitle in C-FIND answers, calling AE of C-MOVE sub-operations). */
  readonly ourAe: string;
  /** Sends a C-STORE on this association (C-GET) and resolves with the peer's C-STORE-RSP. */
  storeOnAssociation(send: (messageId: number) => Promise<void>): Promise<{ status: number }>;
}

export class QrAssociation implements QueryRetrieveSession {
  private readonly cancelled = new Set<number>();
  private current: { messageId: number; abort: AbortController } | undefined;
  private readonly storeResponses = new Map<number, (response: Command | Error) => void>();
  private nextMessageId = 0;
  private closed = false;

  constructor(
    private readonly channel: AssociationChannel,
    private readonly services: QueryRetrieveServices,
    private readonly ourAe: string,
  ) {}

  /** Any C-FIND, C-MOVE or C-GET: one whose SOP class is missing or wrong is answered with a failure. */
  isRequest(command: Command): boolean {
    return REQUESTS.has(command.commandField);
  }

  notify(command: Command): boolean {
    const respondedTo = command.messageIdBeingRespondedTo ?? -1;
    if (command.commandField === CommandField.CCancelRq) {
      if (this.current?.messageId === respondedTo) this.current.abort.abort();
      // A cancel that overtakes its request (both in one segment) waits for it; a few at most are kept.
      else if (this.cancelled.size < 16) this.cancelled.add(respondedTo);
      return true;
    }
    if (command.commandField === CommandField.CStoreRsp) {
      const waiter = this.storeResponses.get(respondedTo);
      if (!waiter) return false;
      this.storeResponses.delete(respondedTo);
      waiter(command);
      return true;
    }
    return false;
  }

  async run(command: Command, contextId: number, identifier: Buffer): Promise<void> {
    const responseField = REQUESTS.get(command.commandField)!;
    const context = this.channel.contexts.get(contextId);
    const model = informationModel(command.affectedSopClassUid);
    if (!command.affectedSopClassUid) {
      const comment = 'AffectedSOPClassUID (0000,0002) missing';
      await this.channel.write([
        encodePData(
          contextId,
          true,
          encodeQrResponse(command, responseField, QrStatus.UnableToProcess, {
            comment,
            offending: [0x00000002],
          }),
        ),
      ]);
      return;
    }
    if (!context || !model || context.abstractSyntax !== command.affectedSopClassUid) {
      const comment = `${command.affectedSopClassUid} not negotiated on context ${contextId}`;
      await this.channel.write([
        encodePData(
          contextId,
          true,
          encodeQrResponse(command, responseField, QrStatus.IdentifierDoesNotMatchSopClass, { comment }),
        ),
      ]);
      return;
    }
    const abort = new AbortController();
    if (this.cancelled.delete(command.messageId) || this.closed) abort.abort();
    this.current = { messageId: command.messageId, abort };
    const operation: Operation = {
      channel: this.channel,
      command,
      contextId,
      transferSyntax: context.transferSyntax,
      identifier,
      signal: abort.signal,
      services: this.services,
      ourAe: this.ourAe,
      storeOnAssociation: (send) => this.storeOnAssociation(send),
    };
    try {
      if (command.commandField === CommandField.CFindRq) await runFind(operation, model);
      else if (command.commandField === CommandField.CMoveRq) await runMove(operation, model);
      else await runGet(operation, model);
    } finally {
      this.current = undefined;
    }
  }

  private async storeOnAssociation(send: (messageId: number) => Promise<void>): Promise<{ status: number }> {
    const messageId = (this.nextMessageId = (this.nextMessageId % 0xffff) + 1);
    const response = new Promise<Command | Error>((resolve) => {
      this.storeResponses.set(messageId, resolve);
    });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<Error>((resolve) => {
      timer = setTimeout(
        () => resolve(new Error(`no C-STORE response within ${this.channel.timeoutMs} ms`)),
        this.channel.timeoutMs,
      );
    });
    try {
      await send(messageId);
      const answer = await Promise.race([response, timeout]);
      if (answer instanceof Error) {
        // A peer that does not answer a sub-operation cannot be relied on for the rest: the association ends.
        if (!this.closed) this.channel.abort();
        throw answer;
      }
      return { status: answer.status ?? -1 };
    } finally {
      clearTimeout(timer);
      this.storeResponses.delete(messageId);
    }
  }

  close(): void {
    this.closed = true;
    this.current?.abort.abort();
    for (const waiter of this.storeResponses.values()) waiter(new Error('association closed'));
    this.storeResponses.clear();
  }
}
