import { Readable } from 'node:stream';
import { deflateRawSync, deflateSync, inflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { deflateStream, inflateStream, parsePollAnswer } from './wire.js';

const collect = async (stream: Readable) => {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
};
const chunked = (bytes: Buffer, size: number) =>
  Readable.from(
    Array.from({ length: Math.ceil(bytes.length / size) }, (_, i) =>
      bytes.subarray(i * size, (i + 1) * size),
    ),
  );

describe('box wire format', () => {
  const data = Buffer.from('DICM'.repeat(50_000));

  it('deflates in zlib format, as Slicebox (Akka Compression.deflate) does', async () => {
    const out = await collect(deflateStream(data));
    expect(out[0]).toBe(0x78);
    expect(inflateSync(out).equals(data)).toBe(true);
  });

  it('inflates zlib and raw deflate bodies as they stream, even split after one byte', async () => {
    expect((await collect(inflateStream(chunked(deflateSync(data), 1000), 1e9))).equals(data)).toBe(true);
    expect((await collect(inflateStream(chunked(deflateRawSync(data), 1), 1e9))).equals(data)).toBe(true);
  });

  it('refuses corrupt, truncated, empty and oversized bodies with a coded error', async () => {
    const z = deflateSync(data);
    await expect(
      collect(inflateStream(Readable.from([Buffer.from('not deflate')]), 1e9)),
    ).rejects.toMatchObject({
      code: 'BOX.INVALID_DEFLATE',
      httpStatus: 400,
    });
    await expect(
      collect(inflateStream(Readable.from([z.subarray(0, z.length / 2)]), 1e9)),
    ).rejects.toMatchObject({
      code: 'BOX.INVALID_DEFLATE',
    });
    await expect(collect(inflateStream(Readable.from([]), 1e9))).rejects.toMatchObject({
      code: 'BOX.EMPTY_BODY',
    });
    await expect(collect(inflateStream(Readable.from([z]), 1000))).rejects.toMatchObject({
      code: 'BOX.TOO_LARGE',
      httpStatus: 413,
    });
  });

  it('reads a poll answer as an array or, from older Slicebox versions, a single object', () => {
    const item = {
      transaction: { id: 3, totalImageCount: 9, extra: 1 },
      image: { id: 12, sequenceNumber: 4 },
    };
    expect(parsePollAnswer([item])).toEqual([
      { transaction: { id: 3, totalImageCount: 9 }, image: { id: 12, sequenceNumber: 4 }, raw: item },
    ]);
    expect(parsePollAnswer(item)).toHaveLength(1);
    expect(() => parsePollAnswer([{ transaction: { id: 'x' } }])).toThrow(/not an OutgoingTransactionImage/);
  });
});
