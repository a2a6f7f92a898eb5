/**
 * DICOM Upper Layer PDUs (PS3.8 §9.3): framing, and the few PDUs an SCP reads and writes. We speak the
 * protocol ourselves because a null SCP on dcmjs-dimse topped out at 230–490 instances/s here (PDU
 * re-assembly by repeated Buffer.concat, SmartBuffer copies, dcmjs encoding of every response), below
 * what storescp does while writing files.
 */

export const PduType = {
  AssociateRq: 0x01,
  AssociateAc: 0x02,
  AssociateRj: 0x03,
  PData: 0x04,
  ReleaseRq: 0x05,
  ReleaseRp: 0x06,
  Abort: 0x07,
} as const;

export const APPLICATION_CONTEXT = '1.2.840.10008.3.1.1.1';

export class ProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProtocolError';
  }
}

export interface ProposedContext {
  id: number;
  abstractSyntax: string;
  transferSyntaxes: string[];
}

export interface AssociateRq {
  calledAe: string;
  callingAe: string;
  applicationContext: string;
  contexts: ProposedContext[];
  maxPduLength: number;
  implementationClassUid: string;
  implementationVersionName: string;
  /** SCP/SCU role selection items (PS3.7 D.3.3.4), as proposed: a C-GET requester asks to be a storage SCP. */
  roles?: RoleSelection[];
}

/** One SCP/SCU role selection sub-item: the roles of the requestor for an abstract syntax. */
export interface RoleSelection {
  abstractSyntax: string;
  scu: boolean;
  scp: boolean;
}

export const ContextResult = {
  Acceptance: 0,
  UserRejection: 1,
  NoReason: 2,
  AbstractSyntaxNotSupported: 3,
  TransferSyntaxesNotSupported: 4,
} as const;

export interface ContextAnswer {
  id: number;
  result: number;
  transferSyntax: string;
}

const ascii = (b: Buffer, start: number, end: number) =>
  b
    .toString('latin1', start, end)
    .replace(/[\0 ]+$/, '')
    .replace(/^ +/, '');

/**
 * The items of a variable field (PS3.8 9.3.2.x): type, reserved, 2-byte length, value. Throws when an item
 * overruns its field.
 */
function* items(
  buf: Buffer,
  from: number,
  what: string,
): Generator<{ type: number; start: number; end: number }> {
  let offset = from;
  while (offset + 4 <= buf.length) {
    const type = buf[offset];
    const start = offset + 4;
    const end = start + buf.readUInt16BE(offset + 2);
    if (end > buf.length) throw new ProtocolError(`item 0x${type.toString(16)} overruns its ${what}`);
    yield { type, start, end };
    offset = end;
  }
}

/** Parses the body (after the 6-byte header) of an A-ASSOCIATE-RQ. */
export function parseAssociateRq(body: Buffer): AssociateRq {
  if (body.length < 68) throw new ProtocolError(`A-ASSOCIATE-RQ too short (${body.length} bytes)`);
  const rq: AssociateRq = {
    calledAe: ascii(body, 4, 20),
    callingAe: ascii(body, 20, 36),
    applicationContext: '',
    contexts: [],
    maxPduLength: 0,
    implementationClassUid: '',
    implementationVersionName: '',
  };
  for (const { type, start, end } of items(body, 68, 'PDU')) {
    if (type === 0x10) rq.applicationContext = ascii(body, start, end);
    else if (type === 0x20) rq.contexts.push(parsePresentationContext(body.subarray(start, end)));
    else if (type === 0x50) parseUserInfo(body.subarray(start, end), rq);
  }
  return rq;
}

function parsePresentationContext(item: Buffer): ProposedContext {
  if (item.length < 4) throw new ProtocolError('presentation context item too short');
  const ctx: ProposedContext = { id: item[0], abstractSyntax: '', transferSyntaxes: [] };
  for (const { type, start, end } of items(item, 4, 'presentation context')) {
    if (type === 0x30) ctx.abstractSyntax = ascii(item, start, end);
    else if (type === 0x40) ctx.transferSyntaxes.push(ascii(item, start, end));
  }
  return ctx;
}

/** Max PDU length, implementation class UID and version name, and role selections from a user information item. */
function parseUserInfo(
  item: Buffer,
  into: {
    maxPduLength: number;
    implementationClassUid?: string;
    implementationVersionName?: string;
    roles?: RoleSelection[];
  },
): void {
  for (const { type, start, end } of items(item, 0, 'user information')) {
    if (type === 0x51 && end - start === 4) into.maxPduLength = item.readUInt32BE(start);
    else if (type === 0x52) into.implementationClassUid = ascii(item, start, end);
    else if (type === 0x55) into.implementationVersionName = ascii(item, start, end);
    else if (type === 0x54 && end - start >= 2) {
      const uidEnd = start + 2 + item.readUInt16BE(start);
      if (uidEnd + 2 > end) throw new ProtocolError('role selection item overruns its length');
      (into.roles ??= []).push({
        abstractSyntax: ascii(item, start + 2, uidEnd),
        scu: item[uidEnd] === 1,
        scp: item[uidEnd + 1] === 1,
      });
    }
  }
}

function header(type: number, length: number): Buffer {
  const h = Buffer.alloc(6);
  h[0] = type;
  h.writeUInt32BE(length, 2);
  return h;
}

function item(type: number, content: Buffer): Buffer {
  const h = Buffer.alloc(4);
  h[0] = type;
  h.writeUInt16BE(content.length, 2);
  return Buffer.concat([h, content]);
}

const uidBytes = (uid: string) => Buffer.from(uid, 'latin1');
const aeField = (ae: string) => Buffer.from(ae.padEnd(16, ' ').slice(0, 16), 'latin1');

/** The fixed part of A-ASSOCIATE-RQ and -AC: protocol version, called and calling AE, reserved bytes. */
function associateFixed(calledAe: string, callingAe: string): Buffer {
  const fixed = Buffer.alloc(68);
  fixed.writeUInt16BE(1, 0);
  aeField(calledAe).copy(fixed, 4);
  aeField(callingAe).copy(fixed, 20);
  return fixed;
}

/** The user information item: maximum length, implementation class UID, role selections, version name. */
function userInfoItem(opts: {
  maxPduLength: number;
  implementationClassUid: string;
  implementationVersionName: string;
  roles?: RoleSelection[];
}): Buffer {
  const maxLen = Buffer.alloc(4);
  maxLen.writeUInt32BE(opts.maxPduLength);
  const roles = (opts.roles ?? []).map((r) => {
    const uid = uidBytes(r.abstractSyntax);
    const length = Buffer.alloc(2);
    length.writeUInt16BE(uid.length);
    return item(0x54, Buffer.concat([length, uid, Buffer.from([r.scu ? 1 : 0, r.scp ? 1 : 0])]));
  });
  return item(
    0x50,
    Buffer.concat([
      item(0x51, maxLen),
      item(0x52, uidBytes(opts.implementationClassUid)),
      ...roles,
      item(0x55, Buffer.from(opts.implementationVersionName, 'latin1')),
    ]),
  );
}

export function encodeAssociateAc(
  rq: AssociateRq,
  answers: ContextAnswer[],
  opts: {
    maxPduLength: number;
    implementationClassUid: string;
    implementationVersionName: string;
    /** Role selections accepted (PS3.7 D.3.3.4): answered only for those the requestor proposed. */
    roles?: RoleSelection[];
  },
): Buffer {
  const body = Buffer.concat([
    // Called and calling AE are returned as received (PS3.8 9.3.3.2), not tested by the requestor.
    associateFixed(rq.calledAe, rq.callingAe),
    item(0x10, uidBytes(APPLICATION_CONTEXT)),
    ...answers.map((a) =>
      item(
        0x21,
        Buffer.concat([Buffer.from([a.id, 0, a.result, 0]), item(0x40, uidBytes(a.transferSyntax))]),
      ),
    ),
    userInfoItem(opts),
  ]);
  return Buffer.concat([header(PduType.AssociateAc, body.length), body]);
}

export const RejectReason = {
  NoReason: 1,
  ApplicationContextNotSupported: 2,
  CallingAeNotRecognized: 3,
  CalledAeNotRecognized: 7,
  /** With result 2 (transient) and source 3 (presentation layer). */
  LocalLimitExceeded: 2,
} as const;

/** A-ASSOCIATE-RJ, permanent, from the service user. */
export function encodeAssociateRj(reason: number, result = 1, source = 1): Buffer {
  return Buffer.concat([header(PduType.AssociateRj, 4), Buffer.from([0, result, source, reason])]);
}

export function encodeReleaseRp(): Buffer {
  return Buffer.concat([header(PduType.ReleaseRp, 4), Buffer.alloc(4)]);
}

/** A-ABORT from the service provider (source 2) with a reason (0 not specified, 2 unexpected PDU, …). */
export function encodeAbort(reason = 0, source = 2): Buffer {
  return Buffer.concat([header(PduType.Abort, 4), Buffer.from([0, 0, source, reason])]);
}

/** One P-DATA-TF carrying one complete PDV. */
export function encodePData(contextId: number, isCommand: boolean, value: Buffer): Buffer {
  const pdv = Buffer.alloc(6);
  pdv.writeUInt32BE(value.length + 2, 0);
  pdv[4] = contextId;
  pdv[5] = (isCommand ? 0x01 : 0x00) | 0x02;
  return Buffer.concat([header(PduType.PData, value.length + 6), pdv, value]);
}

export interface Pdv {
  contextId: number;
  isCommand: boolean;
  isLast: boolean;
  value: Buffer;
}

/** Splits a P-DATA-TF body into its PDVs (values are views into the body, not copies). */
export function parsePData(body: Buffer): Pdv[] {
  const out: Pdv[] = [];
  let offset = 0;
  while (offset < body.length) {
    if (offset + 6 > body.length) throw new ProtocolError('truncated PDV item');
    const len = body.readUInt32BE(offset);
    if (len < 2 || offset + 4 + len > body.length)
      throw new ProtocolError(`PDV item length ${len} overruns the PDU`);
    const control = body[offset + 5];
    out.push({
      contextId: body[offset + 4],
      isCommand: (control & 0x01) !== 0,
      isLast: (control & 0x02) !== 0,
      value: body.subarray(offset + 6, offset + 4 + len),
    });
    offset += 4 + len;
  }
  return out;
}

/**
 * The PDV items of a P-DATA-TF body that arrived in pieces, each value as the pieces it spans: a dataset
 * goes from the socket's buffers to its destination without being copied on the way.
 */
export function parsePDataParts(parts: readonly Buffer[]): Array<Omit<Pdv, 'value'> & { pieces: Buffer[] }> {
  const out: Array<Omit<Pdv, 'value'> & { pieces: Buffer[] }> = [];
  let remaining = parts.reduce((n, p) => n + p.length, 0);
  let part = 0;
  let at = 0;
  /** The next `n` bytes as pieces of the parts (views, not copies). */
  const take = (n: number): Buffer[] => {
    const pieces: Buffer[] = [];
    remaining -= n;
    while (n > 0) {
      const p = parts[part];
      const end = Math.min(p.length, at + n);
      if (end > at) pieces.push(p.subarray(at, end));
      n -= end - at;
      at = end;
      if (at === p.length) {
        part++;
        at = 0;
      }
    }
    return pieces;
  };
  while (remaining > 0) {
    if (remaining < 6) throw new ProtocolError('truncated PDV item');
    const head = Buffer.concat(take(6), 6);
    const len = head.readUInt32BE(0);
    if (len < 2 || len - 2 > remaining) throw new ProtocolError(`PDV item length ${len} overruns the PDU`);
    const control = head[5];
    out.push({
      contextId: head[4],
      isCommand: (control & 0x01) !== 0,
      isLast: (control & 0x02) !== 0,
      pieces: take(len - 2),
    });
  }
  return out;
}

/**
 * Re-assembles PDUs from socket chunks: chunks are kept in a list; `next` joins a whole PDU (one copy),
 * `nextParts` hands its body over as the pieces it arrived in (no copy).
 */
export class PduReader {
  private chunks: Buffer[] = [];
  private buffered = 0;

  constructor(private readonly maxPduLength: number) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
  }

  /** The type and declared length of the PDU being received, once its 6-byte header is in. */
  header(): { type: number; length: number } | undefined {
    if (this.buffered < 6) return undefined;
    const head = this.peek(6);
    return { type: head[0], length: head.readUInt32BE(2) };
  }

  /** Bytes received and not yet taken as a complete PDU. */
  get pending(): number {
    return this.buffered;
  }

  /** The next complete PDU as `{ type, body }`, or undefined when more bytes are needed. */
  next(): { type: number; body: Buffer } | undefined {
    const length = this.complete();
    if (length === undefined) return undefined;
    const whole = this.take(6 + length);
    return { type: whole[0], body: whole.subarray(6) };
  }

  /** The next complete PDU with its body as the pieces it arrived in, or undefined when more are needed. */
  nextParts(): { type: number; parts: Buffer[] } | undefined {
    const length = this.complete();
    if (length === undefined) return undefined;
    const type = this.take(6)[0];
    const parts: Buffer[] = [];
    for (let n = length; n > 0;) {
      const chunk = this.chunks[0];
      if (chunk.length <= n) {
        parts.push(chunk);
        this.chunks.shift();
        n -= chunk.length;
        this.buffered -= chunk.length;
      } else {
        parts.push(chunk.subarray(0, n));
        this.chunks[0] = chunk.subarray(n);
        this.buffered -= n;
        n = 0;
      }
    }
    return { type, parts };
  }

  /** The body length of the PDU at the front once it is all there (checked against the limits), else undefined. */
  private complete(): number | undefined {
    if (this.buffered < 6) return undefined;
    const head = this.peek(6);
    const type = head[0];
    const length = head.readUInt32BE(2);
    if (type < 1 || type > 7) throw new ProtocolError(`unknown PDU type 0x${type.toString(16)}`);
    // Room for our own limit plus the PDV headers some peers do not count.
    if (length > this.maxPduLength + 64 && type === PduType.PData)
      throw new ProtocolError(
        `P-DATA-TF of ${length} bytes exceeds the negotiated maximum ${this.maxPduLength}`,
      );
    if (length > 16 * 1024 * 1024) throw new ProtocolError(`PDU of ${length} bytes is absurd`);
    return this.buffered < 6 + length ? undefined : length;
  }

  /** The first `n` buffered bytes, joined from as few chunks as needed (not all of them). */
  private peek(n: number): Buffer {
    if (this.chunks[0].length >= n) return this.chunks[0];
    const needed: Buffer[] = [];
    for (let have = 0, i = 0; have < n; i++) {
      needed.push(this.chunks[i]);
      have += this.chunks[i].length;
    }
    return Buffer.concat(needed).subarray(0, n);
  }

  private take(n: number): Buffer {
    let out: Buffer;
    if (this.chunks[0].length >= n) {
      out = this.chunks[0].subarray(0, n);
      this.chunks[0] = this.chunks[0].subarray(n);
      if (!this.chunks[0].length) this.chunks.shift();
    } else {
      // Only the chunks that hold the first `n` bytes are joined; the rest stay as they are.
      const pieces: Buffer[] = [];
      let have = 0;
      while (have < n) {
        const chunk = this.chunks.shift()!;
        const need = n - have;
        if (chunk.length > need) {
          pieces.push(chunk.subarray(0, need));
          this.chunks.unshift(chunk.subarray(need));
          have = n;
        } else {
          pieces.push(chunk);
          have += chunk.length;
        }
      }
      out = Buffer.concat(pieces, n);
    }
    this.buffered -= n;
    return out;
  }
}

// ------------------------------------------------------------------------------- requestor side (SCU)

export function encodeAssociateRq(opts: {
  calledAe: string;
  callingAe: string;
  contexts: ProposedContext[];
  maxPduLength: number;
  implementationClassUid: string;
  implementationVersionName: string;
  roles?: RoleSelection[];
}): Buffer {
  const body = Buffer.concat([
    associateFixed(opts.calledAe, opts.callingAe),
    item(0x10, uidBytes(APPLICATION_CONTEXT)),
    ...opts.contexts.map((c) =>
      item(
        0x20,
        Buffer.concat([
          Buffer.from([c.id, 0, 0, 0]),
          item(0x30, uidBytes(c.abstractSyntax)),
          ...c.transferSyntaxes.map((ts) => item(0x40, uidBytes(ts))),
        ]),
      ),
    ),
    userInfoItem(opts),
  ]);
  return Buffer.concat([header(PduType.AssociateRq, body.length), body]);
}

export interface AssociateAc {
  maxPduLength: number;
  results: ContextAnswer[];
  roles?: RoleSelection[];
}

/** Parses the body of an A-ASSOCIATE-AC. */
export function parseAssociateAc(body: Buffer): AssociateAc {
  if (body.length < 68) throw new ProtocolError(`A-ASSOCIATE-AC too short (${body.length} bytes)`);
  const ac: AssociateAc = { maxPduLength: 0, results: [] };
  for (const { type, start, end } of items(body, 68, 'PDU')) {
    if (type === 0x21) {
      let transferSyntax = '';
      if (end - start >= 8 && body[start + 4] === 0x40)
        transferSyntax = ascii(body, start + 8, start + 8 + body.readUInt16BE(start + 6));
      ac.results.push({ id: body[start], result: body[start + 2], transferSyntax });
    } else if (type === 0x50) parseUserInfo(body.subarray(start, end), ac);
  }
  return ac;
}

export function encodeReleaseRq(): Buffer {
  return Buffer.concat([header(PduType.ReleaseRq, 4), Buffer.alloc(4)]);
}

/** Writes one PDV's P-DATA-TF header in front of a chunk of value bytes (no copy of the value). */
export function pDataHeader(
  contextId: number,
  isCommand: boolean,
  isLast: boolean,
  valueLength: number,
): Buffer {
  const h = Buffer.alloc(12);
  h[0] = PduType.PData;
  h.writeUInt32BE(valueLength + 6, 2);
  h.writeUInt32BE(valueLength + 2, 6);
  h[10] = contextId;
  h[11] = (isCommand ? 0x01 : 0x00) | (isLast ? 0x02 : 0x00);
  return h;
}

/**
 * A dataset (or a chunk of one) as P-DATA-TF PDUs of one PDV each, at most `maxValue` value bytes per PDV,
 * without copying the value: header and value views alternate, to be written corked. `last` marks the final
 * PDV; an empty last chunk is still one PDV (of no bytes), or the peer would wait for it.
 */
export function datasetPdvs(contextId: number, data: Buffer, maxValue: number, last: boolean): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < data.length; at += maxValue) {
    const piece = data.subarray(at, Math.min(data.length, at + maxValue));
    out.push(pDataHeader(contextId, false, last && at + piece.length >= data.length, piece.length), piece);
  }
  if (last && data.length === 0) out.push(pDataHeader(contextId, false, true, 0));
  return out;
}

/** The largest PDV value a peer that announced `maxPduLength` takes (0: unlimited, sent in 1 MiB PDVs). */
export const maxPdvValue = (maxPduLength: number) => {
  const value = Math.max(1024, (maxPduLength || 1024 * 1024) - 6);
  return value - (value % 2); // fragments even (DCMTK refuses odd ones), whatever the peer announced
};
