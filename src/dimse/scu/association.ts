/**
 * One association as requestor, over our own upper layer code: connect (no-delay on the socket),
 * A-ASSOCIATE negotiation, C-ECHO and C-STORE requests with their responses, release. It sends what it is
 * given; which files and in which syntax is the SCU's business (store-scu.ts).
 */
import { connect, type Socket } from 'node:net';
import { SluiceError } from '../../errors.js';
import {
  ContextResult,
  encodeAssociateRq,
  encodePData,
  encodeReleaseRq,
  parseAssociateAc,
  datasetPdvs,
  maxPdvValue,
  parsePData,
  PduReader,
  PduType,
  type ProposedContext,
} from '../pdu.js';
import { CommandField, encodeRequest, parseStatus, VERIFICATION, type MoveOriginator } from '../commands.js';
import { IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME } from '../../dicom/part10.js';

/** A peer that could not be reached, refused us or failed: 502 when it surfaces through the API. */
export class DimseError extends SluiceError {
  constructor(code: string, message: string) {
    super(code, message, 502);
  }
}

export interface ScuTarget {
  host: string;
  port: number;
  calledAe: string;
  callingAe: string;
  /** Connect, association and response timeout. */
  timeoutMs?: number;
  /** The C-MOVE whose sub-operations the C-STOREs of this association are (named in each request). */
  moveOriginator?: MoveOriginator;
}

/** The instance a C-STORE request names. */
export interface SopInstance {
  sopClassUid: string;
  sopInstanceUid: string;
}

/** A dataset sent as it is read, in chunks whose lengths add up to `length`. */
export interface DatasetChunks {
  readonly length: number;
  readonly chunks: AsyncIterable<Buffer>;
}

const OUR_MAX_PDU = 256 * 1024;

/** One association as requestor. */
export class Requestor {
  private readonly reader = new PduReader(16 * 1024 * 1024);
  private readonly waiting: Array<(pdu: { type: number; body: Buffer } | Error) => void> = [];
  private readonly queued: Array<{ type: number; body: Buffer } | Error> = [];
  private messageId = 0;

  private constructor(
    private readonly socket: Socket,
    private readonly target: ScuTarget,
  ) {
    socket.on('data', (chunk: Buffer) => {
      this.reader.push(chunk);
      try {
        for (let pdu = this.reader.next(); pdu; pdu = this.reader.next()) this.deliver(pdu);
      } catch (err) {
        this.deliver(err as Error);
      }
    });
    socket.on('error', (err) =>
      this.deliver(new DimseError('DIMSE.NETWORK', `${this.peer}: ${err.message}`)),
    );
    socket.on('close', () =>
      this.deliver(new DimseError('DIMSE.CLOSED', `${this.peer} closed the connection`)),
    );
  }

  get peer(): string {
    return `${this.target.calledAe}@${this.target.host}:${this.target.port}`;
  }

  static async open(target: ScuTarget): Promise<Requestor> {
    const timeout = target.timeoutMs ?? 30_000;
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = connect({ host: target.host, port: target.port, noDelay: true });
      const timer = setTimeout(() => {
        s.destroy();
        reject(
          new DimseError('DIMSE.UNREACHABLE', `cannot connect to ${target.host}:${target.port}: timed out`),
        );
      }, timeout);
      s.once('connect', () => {
        clearTimeout(timer);
        resolve(s);
      });
      s.once('error', (err) => {
        clearTimeout(timer);
        reject(
          new DimseError(
            'DIMSE.UNREACHABLE',
            `cannot connect to ${target.host}:${target.port}: ${err.message}`,
          ),
        );
      });
    });
    socket.setTimeout(timeout, () => socket.destroy(new Error(`no answer within ${timeout} ms`)));
    return new Requestor(socket, target);
  }

  private deliver(pdu: { type: number; body: Buffer } | Error): void {
    const waiter = this.waiting.shift();
    if (waiter) waiter(pdu);
    else this.queued.push(pdu);
  }

  private async next(): Promise<{ type: number; body: Buffer }> {
    const pdu =
      this.queued.shift() ??
      (await new Promise<{ type: number; body: Buffer } | Error>((r) => this.waiting.push(r)));
    if (pdu instanceof Error) throw pdu;
    if (pdu.type === PduType.Abort)
      throw new DimseError('DIMSE.ABORTED', `${this.peer} aborted the association`);
    return pdu;
  }

  /** Negotiates; returns the accepted transfer syntax by context id, and the peer's max PDU length. */
  async associate(
    contexts: ProposedContext[],
  ): Promise<{ accepted: Map<number, string>; maxPduLength: number }> {
    this.socket.write(
      encodeAssociateRq({
        calledAe: this.target.calledAe,
        callingAe: this.target.callingAe,
        contexts,
        maxPduLength: OUR_MAX_PDU,
        implementationClassUid: IMPLEMENTATION_CLASS_UID,
        implementationVersionName: IMPLEMENTATION_VERSION_NAME,
      }),
    );
    const pdu = await this.next();
    if (pdu.type === PduType.AssociateRj) {
      const [, result, source, reason] = pdu.body;
      throw new DimseError(
        'DIMSE.REJECTED',
        `${this.peer} rejected the association (${result === 2 ? 'transient' : 'permanent'}, source ${source}, reason ${reason})`,
      );
    }
    if (pdu.type !== PduType.AssociateAc)
      throw new DimseError(
        'DIMSE.PROTOCOL',
        `${this.peer} answered PDU 0x${pdu.type.toString(16)} to A-ASSOCIATE-RQ`,
      );
    const ac = parseAssociateAc(pdu.body);
    const accepted = new Map<number, string>();
    for (const r of ac.results)
      if (r.result === ContextResult.Acceptance) accepted.set(r.id, r.transferSyntax);
    return { accepted, maxPduLength: ac.maxPduLength };
  }

  private async response(): Promise<{ status: number; comment?: string }> {
    const parts: Buffer[] = [];
    for (;;) {
      const pdu = await this.next();
      if (pdu.type !== PduType.PData)
        throw new DimseError(
          'DIMSE.PROTOCOL',
          `${this.peer} sent PDU 0x${pdu.type.toString(16)} instead of a response`,
        );
      for (const pdv of parsePData(pdu.body)) {
        if (!pdv.isCommand) continue;
        parts.push(pdv.value);
        if (pdv.isLast) return parseStatus(Buffer.concat(parts));
      }
    }
  }

  async echo(contextId: number): Promise<{ status: number }> {
    this.socket.write(
      encodePData(contextId, true, encodeRequest(CommandField.CEchoRq, ++this.messageId, VERIFICATION)),
    );
    return this.response();
  }

  /** Sends one C-STORE: the request command, then the dataset in PDVs of the peer's size. */
  async store(
    contextId: number,
    instance: SopInstance,
    maxPduLength: number,
    dataset: Buffer | DatasetChunks,
  ): Promise<{ status: number; comment?: string }> {
    const maxValue = this.storeCommand(contextId, instance, maxPduLength);
    if (Buffer.isBuffer(dataset)) await this.writePdvs(contextId, dataset, maxValue, true);
    else {
      // Every fragment but the last even: DCMTK refuses an odd one ("DIMSE: Odd Fragment Length") and
      // aborts the association. A local file reads in even 1 MiB blocks; an object store's HTTP body
      // arrives in reads of any size, so an odd chunk's last byte goes with the next one.
      let remaining = dataset.length;
      let carry: Buffer | undefined;
      for await (const read of dataset.chunks) {
        let chunk = read as Buffer;
        remaining -= chunk.length;
        if (carry) {
          chunk = Buffer.concat([carry, chunk]);
          carry = undefined;
        }
        if (remaining > 0 && chunk.length % 2) {
          carry = chunk.subarray(chunk.length - 1);
          chunk = chunk.subarray(0, chunk.length - 1);
        }
        if (chunk.length || remaining === 0)
          await this.writePdvs(contextId, chunk, maxValue, remaining === 0);
      }
      if (dataset.length === 0) await this.writePdvs(contextId, Buffer.alloc(0), maxValue, true);
    }
    return this.response();
  }

  /** Writes the C-STORE request command; answers the largest PDV value the peer takes. */
  private storeCommand(contextId: number, instance: SopInstance, maxPduLength: number): number {
    this.socket.write(
      encodePData(
        contextId,
        true,
        encodeRequest(
          CommandField.CStoreRq,
          ++this.messageId,
          instance.sopClassUid,
          instance.sopInstanceUid,
          this.target.moveOriginator,
        ),
      ),
    );
    return maxPdvValue(maxPduLength);
  }

  /**
   * Writes `data` as dataset PDVs of at most `maxValue` bytes, corked (one writev per call, no copies);
   * `last` marks the final one.
   */
  private async writePdvs(contextId: number, data: Buffer, maxValue: number, last: boolean): Promise<void> {
    this.socket.cork();
    for (const b of datasetPdvs(contextId, data, maxValue, last)) this.socket.write(b);
    this.socket.uncork();
    if (this.socket.writableNeedDrain) await new Promise((r) => this.socket.once('drain', r));
  }

  async release(): Promise<void> {
    this.socket.write(encodeReleaseRq());
    try {
      const pdu = await this.next();
      if (pdu.type !== PduType.ReleaseRp) throw new Error('unexpected answer to A-RELEASE-RQ');
    } catch {
      // the peer may close without answering; nothing is lost at this point
    } finally {
      this.socket.end();
    }
  }

  destroy(): void {
    this.socket.destroy();
  }
}
