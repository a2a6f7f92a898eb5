/**
 * The box protocol on the wire (Slicebox §5.4): JSON shapes, compression, and a small HTTP client for the
 * PUSH side. Bodies are deflate-compressed as Slicebox's Akka `Compression.deflate` does it: zlib format
 * (RFC 1950, `nowrap = false`). On receipt both zlib and raw deflate (RFC 1951) are accepted.
 */
import { request as httpRequest, Agent as HttpAgent, type IncomingMessage } from 'node:http';
import { request as httpsRequest, Agent as HttpsAgent } from 'node:https';
import { Readable } from 'node:stream';
import { constants, createInflate, createInflateRaw, deflate } from 'node:zlib';
import { promisify } from 'node:util';
import { SluiceError } from '../errors.js';
import { OPTIONS, type OptionName } from '../anonymization/deid/profile.js';
import type { BoxRow, OutgoingImage, OutgoingTransaction } from './store.js';

/** Slicebox's `AnonymizationProfile` as answered: the options with their titles, descriptions and ranks. */
export function profileJson(options: readonly string[]) {
  return {
    options: options
      .filter((name): name is OptionName => name in OPTIONS)
      .map((name) => {
        const { title, description, rank } = OPTIONS[name];
        return { name, title, description, rank };
      }),
  };
}

/** Slicebox's `Box`. */
export function boxJson(box: BoxRow, online: boolean) {
  return {
    id: box.id,
    name: box.name,
    token: box.token,
    baseUrl: box.baseUrl,
    sendMethod: box.sendMethod,
    defaultProfile: profileJson(box.defaultProfile),
    online,
  };
}

/** Slicebox's `OutgoingTransaction`, with `failedImageCount` beside its fields. */
export function outgoingTransactionJson(t: OutgoingTransaction) {
  return {
    id: t.id,
    boxId: t.boxId,
    boxName: t.boxName,
    profile: profileJson(t.profile),
    sentImageCount: t.sentImageCount,
    failedImageCount: t.failedImageCount,
    totalImageCount: t.totalImageCount,
    created: t.created,
    updated: t.updated,
    status: t.status,
  };
}

/** Slicebox's `OutgoingImage` (`sent`), with our `status` and `message` beside it. */
export function outgoingImageJson(i: OutgoingImage) {
  return {
    id: i.id,
    outgoingTransactionId: i.outgoingTransactionId,
    imageId: i.imageId,
    sequenceNumber: i.sequenceNumber,
    sent: i.sent,
    status: i.status,
    message: i.message,
  };
}

/** What the poll side needs of an `OutgoingTransactionImage` it was handed (extra fields are ignored). */
export interface RemoteTransactionImage {
  transaction: { id: number; totalImageCount: number };
  image: { id: number; sequenceNumber: number };
  /** The object as the remote sent it: echoed back in `outgoing/done` and `outgoing/failed`. */
  raw: unknown;
}

const positiveInt = (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v >= 0;

/** Parses a poll answer: an array, or (older Slicebox) a single object. Throws on anything else. */
export function parsePollAnswer(json: unknown): RemoteTransactionImage[] {
  const items = Array.isArray(json) ? json : [json];
  return items.map((item, i) => {
    const t = (item as { transaction?: Record<string, unknown> })?.transaction;
    const img = (item as { image?: Record<string, unknown> })?.image;
    if (
      !t ||
      !img ||
      !positiveInt(t.id) ||
      !positiveInt(t.totalImageCount) ||
      !positiveInt(img.id) ||
      !positiveInt(img.sequenceNumber)
    )
      throw new SluiceError(
        'BOX.BAD_ANSWER',
        `poll answer item ${i} is not an OutgoingTransactionImage`,
        502,
      );
    return {
      transaction: { id: t.id as number, totalImageCount: t.totalImageCount as number },
      image: { id: img.id as number, sequenceNumber: img.sequenceNumber as number },
      raw: item,
    };
  });
}

// ------------------------------------------------------------------------------------------ compression

/**
 * Output chunks of the decompressor: zlib's default of 16 KiB made a 512 KiB image 32 trips to the thread
 * pool, 32 chunks through the streams and 32 writes into landing.
 */
const ZLIB_CHUNK = 256 * 1024;

const deflateOnce = promisify(deflate);

/**
 * Deflates (zlib format, as Slicebox) a file, given as consecutive pieces, as a stream of one chunk: the
 * image is in memory already, and one compression on the thread pool costs less than a compressing stream
 * (a zlib stream set up per image and a trip to the pool per chunk).
 */
export function deflateStream(parts: Buffer | readonly Buffer[]): Readable {
  const whole = Buffer.isBuffer(parts) ? parts : Buffer.concat(parts);
  return Readable.from(
    (async function* () {
      yield await deflateOnce(whole, { level: constants.Z_BEST_SPEED });
    })(),
    { objectMode: false },
  );
}

const isZlibHeader = (b: Buffer) =>
  b.length >= 2 && (b[0]! & 0x0f) === 8 && ((b[0]! << 8) | b[1]!) % 31 === 0;

/**
 * Inflates a compressed body as it streams (zlib or raw deflate, told apart by the first two bytes). A
 * corrupt or truncated body fails with a 400 `BOX.INVALID_DEFLATE`; more than `maxBytes` inflated, 413.
 */
export function inflateStream(source: Readable, maxBytes: number): Readable {
  async function* inflate() {
    const input = source[Symbol.asyncIterator]();
    let head = Buffer.alloc(0);
    while (head.length < 2) {
      const next = await input.next();
      if (next.done) break;
      head = Buffer.concat([head, next.value as Buffer]);
    }
    if (!head.length) throw new SluiceError('BOX.EMPTY_BODY', 'the request body is empty', 400);
    const options = { chunkSize: ZLIB_CHUNK };
    const inflater = isZlibHeader(head) ? createInflate(options) : createInflateRaw(options);
    const rest = Readable.from(
      (async function* () {
        yield head;
        for (;;) {
          const next = await input.next();
          if (next.done) return;
          yield next.value as Buffer;
        }
      })(),
    );
    rest.on('error', (err) => inflater.destroy(err));
    rest.pipe(inflater);
    let total = 0;
    try {
      for await (const chunk of inflater) {
        total += (chunk as Buffer).length;
        if (total > maxBytes)
          throw new SluiceError('BOX.TOO_LARGE', `the image inflates to more than ${maxBytes} bytes`, 413);
        yield chunk as Buffer;
      }
    } catch (err) {
      rest.destroy();
      const code = (err as NodeJS.ErrnoException).code;
      if (typeof code === 'string' && code.startsWith('Z_'))
        throw new SluiceError(
          'BOX.INVALID_DEFLATE',
          `the body is not valid deflate data: ${(err as Error).message}`,
          400,
        );
      throw err;
    }
  }
  return Readable.from(inflate(), { objectMode: false });
}

// ------------------------------------------------------------------------------------------ HTTP client

export interface HttpAnswer {
  status: number;
  response: IncomingMessage;
}

export interface BoxHttpClient {
  send(
    url: string,
    init: { method: 'GET' | 'POST' | 'PUT'; body?: Readable | string; contentType?: string },
  ): Promise<HttpAnswer>;
  close(): void;
}

/** A keep-alive HTTP(S) client with an idle timeout per request; never follows redirects. */
export function boxHttpClient(options: { maxSockets: number; timeoutMs: number }): BoxHttpClient {
  const agents = {
    http: new HttpAgent({ keepAlive: true, maxSockets: options.maxSockets }),
    https: new HttpsAgent({ keepAlive: true, maxSockets: options.maxSockets }),
  };
  return {
    send(url, init) {
      const target = new URL(url);
      const secure = target.protocol === 'https:';
      const headers: Record<string, string> = { accept: 'application/json, */*' };
      if (init.contentType) headers['content-type'] = init.contentType;
      if (typeof init.body === 'string') headers['content-length'] = String(Buffer.byteLength(init.body));
      return new Promise<HttpAnswer>((resolve, reject) => {
        const req = (secure ? httpsRequest : httpRequest)(
          target,
          { method: init.method, headers, agent: secure ? agents.https : agents.http },
          (response) => resolve({ status: response.statusCode ?? 0, response }),
        );
        req.setTimeout(options.timeoutMs, () =>
          req.destroy(new Error(`no answer from ${target.host} within ${options.timeoutMs} ms`)),
        );
        req.on('error', reject);
        if (init.body === undefined) req.end();
        else if (typeof init.body === 'string') req.end(init.body);
        else {
          init.body.on('error', (err) => req.destroy(err));
          init.body.pipe(req);
        }
      });
    },
    close() {
      agents.http.destroy();
      agents.https.destroy();
    },
  };
}

/** Reads an answer's body as text (capped: error answers are short, and we never trust a peer's size). */
export async function answerText(answer: HttpAnswer, max = 64 * 1024): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of answer.response) {
    if (size < max) chunks.push(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return Buffer.concat(chunks).toString('utf8').slice(0, max);
}

/** `HTTP 400: <the answer's text>`, for failure reasons. */
export async function describeAnswer(answer: HttpAnswer): Promise<string> {
  const text = (await answerText(answer, 4096)).trim();
  return `HTTP ${answer.status}${text ? `: ${text}` : ''}`;
}

/** Discards an answer's body so the socket goes back to the pool. */
export function discard(answer: HttpAnswer): void {
  answer.response.resume();
}
