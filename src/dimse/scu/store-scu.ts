/**
 * A C-STORE and C-ECHO requestor (SCU) over our own upper layer code: stored files are streamed into
 * P-DATA exactly as they are on disk, behind a command set, not re-encoded (except for a peer that refuses
 * the stored syntax: explicit VR little endian is re-encoded in implicit VR, compressed and deflated files
 * are decompressed); no-delay on the socket.
 * (dcmjs-dimse's client managed 20–49 instances/s here because it re-encodes every file and leaves
 * Nagle's algorithm on.) One association per call; the SCU and the forwarding worker build on it.
 */
import { createReadStream } from 'node:fs';
import { open, readFile, type FileHandle } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { InvalidDicomError, SluiceError } from '../../errors.js';
import {
  ContextResult,
  encodeAssociateRq,
  encodePData,
  encodeReleaseRq,
  parseAssociateAc,
  parsePData,
  pDataHeader,
  PduReader,
  PduType,
  type ProposedContext,
} from '../pdu.js';
import { CommandField, encodeRequest, parseStatus, Status } from '../commands.js';
import {
  datasetOffset,
  IMPLEMENTATION_CLASS_UID,
  IMPLEMENTATION_VERSION_NAME,
  metaStrings,
  PART10_HEAD_LENGTH,
  splitPart10,
} from '../../dicom/part10.js';
import { TransferSyntax } from '../../dicom/transfer-syntax.js';
import type { DicomSender, SendResult } from '../../forwarding/scus.js';
import { explicitToImplicitLittleEndian } from '../../dicom/implicit-vr.js';
import { needsDecompression, transcodeFile } from '../../render/transcode.js';

export const VERIFICATION = '1.2.840.10008.1.1';

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
}

export interface StoredFile {
  path: string;
  sopClassUid: string;
  sopInstanceUid: string;
  transferSyntaxUid: string;
}

export interface StoreResult {
  sopInstanceUid: string;
  /** DIMSE status; -1 when the instance could not be sent (no accepted presentation context). */
  status: number;
  comment?: string;
}

const OUR_MAX_PDU = 256 * 1024;

/** One association as requestor. */
class Requestor {
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

  /** Sends one stored file: command, then the dataset bytes straight from disk in PDVs. */
  async store(
    contextId: number,
    file: StoredFile,
    maxPduLength: number,
    /** The dataset to send instead of the file's (a fallback encoding). */
    dataset?: Buffer,
  ): Promise<{ status: number; comment?: string }> {
    if (dataset) return this.storeBuffer(contextId, file, maxPduLength, dataset);
    const datasetStart = await storedDatasetOffset(file.path);
    const handle = await open(file.path, 'r');
    const { size } = await handle.stat();
    await handle.close();
    const maxValue = this.storeCommand(contextId, file, maxPduLength);
    let remaining = size - datasetStart;
    // Large reads, cut into PDVs of the peer's size and written corked (one writev per read, no copies):
    // a read and a copy per 16 KiB PDV (DCMTK's default) had cost ~1.6 ms of CPU per 512 KiB instance.
    const stream = createReadStream(file.path, { start: datasetStart, highWaterMark: 1024 * 1024 });
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      remaining -= chunk.length;
      await this.writePdvs(contextId, chunk, maxValue, remaining === 0);
    }
    return this.response();
  }

  private async storeBuffer(
    contextId: number,
    file: StoredFile,
    maxPduLength: number,
    dataset: Buffer,
  ): Promise<{ status: number; comment?: string }> {
    const maxValue = this.storeCommand(contextId, file, maxPduLength);
    await this.writePdvs(contextId, dataset, maxValue, true);
    return this.response();
  }

  /** Writes the C-STORE request command; answers the largest PDV value the peer takes. */
  private storeCommand(contextId: number, file: StoredFile, maxPduLength: number): number {
    this.socket.write(
      encodePData(
        contextId,
        true,
        encodeRequest(CommandField.CStoreRq, ++this.messageId, file.sopClassUid, file.sopInstanceUid),
      ),
    );
    return Math.max(1024, (maxPduLength || 1024 * 1024) - 6);
  }

  /** Writes `data` as dataset PDVs of at most `maxValue` bytes; `last` marks the final one. */
  private async writePdvs(contextId: number, data: Buffer, maxValue: number, last: boolean): Promise<void> {
    this.socket.cork();
    for (let at = 0; at < data.length; at += maxValue) {
      const piece = data.subarray(at, Math.min(data.length, at + maxValue));
      const isLast = last && at + piece.length >= data.length;
      this.socket.write(pDataHeader(contextId, false, isLast, piece.length));
      this.socket.write(piece);
    }
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

/** Reads where the dataset of a stored file starts, behind the preamble and the file meta group. */
async function storedDatasetOffset(path: string): Promise<number> {
  const handle = await open(path, 'r');
  try {
    return await readDatasetOffset(handle, path);
  } finally {
    await handle.close();
  }
}

/** A stored file that is not Part-10 is our fault, not the peer's: 500. */
async function readDatasetOffset(handle: FileHandle, path: string): Promise<number> {
  const head = Buffer.alloc(PART10_HEAD_LENGTH);
  const { bytesRead } = await handle.read(head, 0, PART10_HEAD_LENGTH, 0);
  try {
    return datasetOffset(head.subarray(0, bytesRead));
  } catch (err) {
    if (!(err instanceof InvalidDicomError)) throw err;
    throw new SluiceError('DICOM.INVALID', `${path} is not a readable Part-10 file: ${err.message}`, 500);
  }
}

/** C-ECHO: resolves when the peer answers success. */
export async function echoScp(target: ScuTarget): Promise<void> {
  const a = await Requestor.open(target);
  try {
    const { accepted } = await a.associate([
      { id: 1, abstractSyntax: VERIFICATION, transferSyntaxes: [TransferSyntax.ImplicitVRLittleEndian] },
    ]);
    if (!accepted.has(1)) throw new DimseError('DIMSE.NO_CONTEXT', `${a.peer} does not accept verification`);
    const { status } = await a.echo(1);
    if (status !== Status.Success)
      throw new DimseError('DIMSE.FAILED', `${a.peer} answered C-ECHO with status 0x${status.toString(16)}`);
    await a.release();
  } finally {
    a.destroy();
  }
}

/** A stored compressed or deflated file as a Part-10 file in an uncompressed syntax (src/render/transcode.ts). */
export type Decompress = (path: string, transferSyntaxUid: string) => Promise<Buffer>;

/**
 * The transfer syntaxes to propose for a file, each in its own presentation context so that the peer's
 * choice is ours: the stored one first, then the fallbacks in order of preference. Explicit VR little endian
 * falls back to implicit (re-encoded in memory); compressed and deflated syntaxes to explicit, then implicit
 * VR little endian (decompressed); implicit VR little endian, which every peer accepts, and big endian have
 * none.
 */
export function syntaxesToPropose(transferSyntaxUid: string): string[] {
  if (transferSyntaxUid === TransferSyntax.ExplicitVRLittleEndian)
    return [transferSyntaxUid, TransferSyntax.ImplicitVRLittleEndian];
  if (needsDecompression(transferSyntaxUid))
    return [transferSyntaxUid, TransferSyntax.ExplicitVRLittleEndian, TransferSyntax.ImplicitVRLittleEndian];
  return [transferSyntaxUid];
}

/** Presentation context keys (`SOP class|transfer syntax`) a file needs; files share them. */
export const contextKeys = (f: Pick<StoredFile, 'sopClassUid' | 'transferSyntaxUid'>): string[] =>
  syntaxesToPropose(f.transferSyntaxUid).map((ts) => `${f.sopClassUid}|${ts}`);

const MAX_CONTEXTS = 128;

/**
 * Sends stored files over one association. For each SOP class it proposes every stored transfer syntax
 * (files go out as they are on disk) and the uncompressed fallbacks of `syntaxesToPropose`, one context per
 * pair, shared by the files that need it (128 at most). The stored syntax is used whenever the peer accepts
 * it; otherwise the first accepted fallback: explicit VR little endian files are re-encoded in implicit VR,
 * compressed and deflated ones decompressed by `decompress`, one file at a time, so an association holds at
 * most one decompressed instance. A file that cannot be decompressed fails alone (status -1 with the reason).
 * Resolves with one result per file; an unreachable peer or a refused association rejects with a DimseError.
 */
export async function storeFiles(
  target: ScuTarget,
  files: StoredFile[],
  /** Called with each result as it arrives, so that a later failure does not hide what was delivered. */
  onResult?: (result: StoreResult) => void,
  decompress: Decompress = transcodeFile,
): Promise<StoreResult[]> {
  const contextIds = new Map<string, number>();
  const contexts: ProposedContext[] = [];
  for (const f of files) {
    const missing = contextKeys(f).filter((key) => !contextIds.has(key));
    if (contexts.length + missing.length > MAX_CONTEXTS)
      throw new DimseError(
        'DIMSE.TOO_MANY_CONTEXTS',
        `more than ${MAX_CONTEXTS} presentation contexts needed for one association`,
      );
    for (const key of missing) {
      const id = contexts.length * 2 + 1;
      const [abstractSyntax, transferSyntax] = key.split('|');
      contexts.push({ id, abstractSyntax, transferSyntaxes: [transferSyntax] });
      contextIds.set(key, id);
    }
  }
  const a = await Requestor.open(target);
  try {
    const { accepted, maxPduLength } = await a.associate(contexts);
    if (!accepted.size)
      throw new DimseError(
        'DIMSE.NO_CONTEXT',
        `${a.peer} accepted none of the proposed presentation contexts`,
      );
    const results: StoreResult[] = [];
    const report = (result: StoreResult) => {
      results.push(result);
      onResult?.(result);
    };
    for (const f of files) {
      const syntaxes = syntaxesToPropose(f.transferSyntaxUid);
      const chosen = syntaxes.find((ts) => accepted.has(contextIds.get(`${f.sopClassUid}|${ts}`)!));
      if (!chosen) {
        report({
          sopInstanceUid: f.sopInstanceUid,
          status: -1,
          comment: `${a.peer} does not accept SOP class ${f.sopClassUid} in transfer syntax ${syntaxes.join(' or ')}`,
        });
        continue;
      }
      const contextId = contextIds.get(`${f.sopClassUid}|${chosen}`)!;
      if (chosen === f.transferSyntaxUid) {
        const { status, comment } = await a.store(contextId, f, maxPduLength);
        report({ sopInstanceUid: f.sopInstanceUid, status, comment });
        continue;
      }
      let dataset: Buffer;
      try {
        dataset = await reencode(f, chosen, decompress);
      } catch (err) {
        const what = needsDecompression(f.transferSyntaxUid) ? 'decompress' : 're-encode';
        report({
          sopInstanceUid: f.sopInstanceUid,
          status: -1,
          comment: `cannot ${what} ${f.transferSyntaxUid} to ${chosen} for ${a.peer}, which refuses SOP class ${f.sopClassUid} in ${f.transferSyntaxUid}: ${(err as Error).message}`,
        });
        continue;
      }
      const { status, comment } = await a.store(contextId, f, maxPduLength, dataset);
      report({ sopInstanceUid: f.sopInstanceUid, status, comment });
    }
    await a.release();
    return results;
  } finally {
    a.destroy();
  }
}

/** The dataset of `f` (without file meta) in the fallback syntax `ts`. */
async function reencode(f: StoredFile, ts: string, decompress: Decompress): Promise<Buffer> {
  const bytes = needsDecompression(f.transferSyntaxUid)
    ? await decompress(f.path, ts)
    : await readFile(f.path);
  if (needsDecompression(f.transferSyntaxUid)) return splitPart10(bytes, ts).dataset;
  return explicitToImplicitLittleEndian(splitPart10(bytes, f.transferSyntaxUid).dataset);
}

/** C-STORE statuses after which the peer has the instance: success and the warnings (PS3.4 B.2.3). */
export function isStored(status: number): boolean {
  return (
    status === Status.Success ||
    status === 0x0001 ||
    status === 0xb000 ||
    status === 0xb006 ||
    status === 0xb007
  );
}

/**
 * What a send needs to know about a stored Part-10 file, from its file meta information (group 0002, always
 * explicit VR little endian): SOP class, SOP instance and transfer syntax, without reading the dataset.
 */
export async function readStoredFile(path: string): Promise<StoredFile> {
  const handle = await open(path, 'r');
  try {
    const head = Buffer.alloc(await readDatasetOffset(handle, path));
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    const values = metaStrings(head.subarray(0, bytesRead));
    const [sopClassUid, sopInstanceUid, transferSyntaxUid] = [2, 3, 0x10].map((e) => values.get(e) ?? '');
    if (!sopClassUid || !sopInstanceUid || !transferSyntaxUid)
      throw new SluiceError(
        'DICOM.INVALID',
        `${path}: file meta information lacks SOP class, instance or transfer syntax`,
        500,
      );
    return { path, sopClassUid, sopInstanceUid, transferSyntaxUid };
  } finally {
    await handle.close();
  }
}

/** Files in order, cut into runs whose presentation contexts (`contextKeys`) fit in one association. */
export function associationGroups(files: StoredFile[]): StoredFile[][] {
  const groups: StoredFile[][] = [];
  let keys = new Set<string>();
  for (const file of files) {
    const missing = contextKeys(file).filter((key) => !keys.has(key));
    if (!groups.length || keys.size + missing.length > MAX_CONTEXTS) {
      groups.push([]);
      keys = new Set();
    }
    for (const key of missing) keys.add(key);
    groups[groups.length - 1].push(file);
  }
  return groups;
}

/**
 * The DicomSender port over this SCU: reads each file's meta information, then sends over as few
 * associations as the 128 presentation contexts allow (`contextKeys`: up to three per SOP class and stored
 * transfer syntax, the uncompressed ones shared within a SOP class). `decompress` defaults to decoding on
 * the calling thread; main.ts passes the render pool's, which decodes in a worker thread.
 */
export function dimseSender(
  callingAe: string,
  options: { timeoutMs?: number; decompress?: Decompress } = {},
): DicomSender {
  return {
    async send(peer, paths, onResult) {
      const target: ScuTarget = {
        host: peer.host,
        port: peer.port,
        calledAe: peer.aeTitle,
        callingAe,
        timeoutMs: options.timeoutMs,
      };
      const files: StoredFile[] = [];
      for (const path of paths) files.push(await readStoredFile(path));
      const out: SendResult[] = [];
      const toResult = (r: StoreResult): SendResult => ({ ...r, stored: isStored(r.status) });
      for (const group of associationGroups(files))
        for (const r of await storeFiles(target, group, (r) => onResult?.(toResult(r)), options.decompress))
          out.push(toResult(r));
      return out;
    },
  };
}
