/**
 * Reading a `multipart/related` body (RFC 2387, as STOW-RS sends it) as a stream: each part is handed over
 * as soon as its headers are in, its body a Readable fed as the request arrives, with backpressure, so a
 * request of many instances is never held in memory. (busboy reads only multipart/form-data.)
 */
import { PassThrough, type Readable } from 'node:stream';
import StreamSearch from 'streamsearch';
import { BadRequestError } from '../../errors.js';

export interface Part {
  /** Header names in lower case. */
  headers: Map<string, string>;
  body: Readable;
}

const MAX_HEADER_BYTES = 16 * 1024;
const CRLF = Buffer.from('\r\n');

type Event =
  { kind: 'part'; headers: Map<string, string> } | { kind: 'data'; bytes: Buffer } | { kind: 'end' };

/**
 * The parts of a multipart body. The body is read on its own, as the parts' streams take its bytes: consume
 * (or `resume()`) each part's body, as with any stream, or the request stalls; a part may be consumed
 * before or after asking for the next one.
 */
export async function* multipartParts(
  body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  boundary: string,
  options: { maxParts?: number } = {},
): AsyncGenerator<Part> {
  if (!boundary || boundary.length > 70) throw new BadRequestError('multipart body: bad boundary');
  const maxParts = options.maxParts ?? 10_000;
  let state: 'preamble' | 'delimiter' | 'headers' | 'body' | 'epilogue' = 'preamble';
  let pending = Buffer.alloc(0);
  let count = 0;
  const events: Event[] = [];
  let error: Error | undefined;

  const onBytes = (bytes: Buffer) => {
    if (state === 'preamble' || state === 'epilogue' || !bytes.length) return;
    if (state === 'body') {
      events.push({ kind: 'data', bytes });
      return;
    }
    pending = Buffer.concat([pending, bytes]);
    if (state === 'delimiter') {
      if (pending.length < 2) return;
      if (pending[0] === 0x2d && pending[1] === 0x2d) {
        state = 'epilogue';
        return;
      }
      const eol = pending.indexOf(CRLF);
      if (eol < 0) {
        if (pending.length > 256) error = new BadRequestError('multipart body: garbage after a boundary');
        return;
      }
      pending = pending.subarray(eol + 2);
      state = 'headers';
    }
    // Headers end at an empty line (a part without headers starts with it).
    const end = pending.subarray(0, 2).equals(CRLF) ? 0 : pending.indexOf('\r\n\r\n');
    if (end < 0) {
      if (pending.length > MAX_HEADER_BYTES)
        error = new BadRequestError(`multipart body: part headers longer than ${MAX_HEADER_BYTES} bytes`);
      return;
    }
    const headers = new Map<string, string>();
    for (const line of pending.toString('latin1', 0, end).split('\r\n')) {
      const colon = line.indexOf(':');
      if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
    }
    const rest = pending.subarray(end === 0 ? 2 : end + 4);
    pending = Buffer.alloc(0);
    if (++count > maxParts) {
      error = new BadRequestError(`multipart body: more than ${maxParts} parts`);
      return;
    }
    state = 'body';
    events.push({ kind: 'part', headers });
    if (rest.length) events.push({ kind: 'data', bytes: rest });
  };

  const search = new StreamSearch(
    Buffer.from(`\r\n--${boundary}`, 'latin1'),
    (isMatch, data, start, end, safe) => {
      if (data && end > start)
        onBytes(safe ? data.subarray(start, end) : Buffer.from(data.subarray(start, end)));
      if (!isMatch) return;
      if (state === 'body') events.push({ kind: 'end' });
      if (state === 'headers')
        error ??= new BadRequestError('multipart body: a part ends inside its headers');
      if (state !== 'epilogue') {
        state = 'delimiter';
        pending = Buffer.alloc(0);
      }
    },
  );

  const ready: Part[] = [];
  let wake: (() => void) | undefined;
  const notify = () => {
    wake?.();
    wake = undefined;
  };
  let current: PassThrough | undefined;
  let finished = false;
  let abandoned = false;
  let failure: unknown;
  const pump = async () => {
    // A leading CRLF lets the first boundary, which has none, match the same delimiter as the others.
    search.push(CRLF);
    for await (const chunk of body) {
      if (abandoned) return;
      search.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
      if (error) throw error;
      for (const event of events.splice(0)) {
        if (event.kind === 'part') {
          current = new PassThrough({ highWaterMark: 1024 * 1024 });
          // A malformed body fails the part's stream too; the generator throws the error to the caller, so a
          // consumer that only drains the part must not bring the process down.
          current.on('error', () => undefined);
          ready.push({ headers: event.headers, body: current });
          notify();
        } else if (event.kind === 'data') {
          if (current && !current.write(event.bytes)) await drained(current);
        } else {
          current?.end();
          current = undefined;
        }
      }
    }
    if ((state as string) !== 'epilogue')
      throw new BadRequestError('multipart body ends before its closing boundary');
  };
  void pump().then(
    () => {
      finished = true;
      notify();
    },
    (err: unknown) => {
      failure = err;
      finished = true;
      current?.destroy(err as Error);
      notify();
    },
  );
  try {
    for (;;) {
      if (ready.length) {
        yield ready.shift()!;
        continue;
      }
      if (finished) {
        if (failure) throw failure;
        return;
      }
      await new Promise<void>((resolve) => (wake = resolve));
    }
  } finally {
    abandoned = true;
    if (!finished) current?.destroy();
    search.destroy();
  }
}

/** Resolves when the stream takes more, or is gone (its consumer failed: the rest is dropped). */
function drained(stream: PassThrough): Promise<void> {
  if (stream.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      stream.off('drain', done).off('close', done);
      resolve();
    };
    stream.on('drain', done).on('close', done);
  });
}

/** The boundary and `type` parameters of a multipart Content-Type (quotes removed). */
export function multipartParameters(contentType: string): { type?: string; boundary?: string } {
  const out: { type?: string; boundary?: string } = {};
  for (const param of contentType.split(';').slice(1)) {
    const eq = param.indexOf('=');
    if (eq < 0) continue;
    const name = param.slice(0, eq).trim().toLowerCase();
    const value = param
      .slice(eq + 1)
      .trim()
      .replace(/^"(.*)"$/, '$1');
    if (name === 'type' || name === 'boundary') out[name] = value;
  }
  return out;
}
