import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { folderPart, zipStream } from './zip.js';
import { NotFoundError } from '../errors.js';
import type { BlobStore } from '../storage/blob-store.js';

const store = (files: Record<string, Buffer>): BlobStore =>
  ({
    open: async (key: string) => {
      const bytes = files[key];
      if (!bytes) throw new NotFoundError(`stored file ${key}`);
      return { stream: Readable.from([bytes]), size: bytes.length };
    },
  }) as unknown as BlobStore;

const collect = async (stream: Readable) => {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
};

describe('folderPart', () => {
  it('keeps letters, digits and DICOM punctuation, and turns path and control characters into _', () => {
    expect(folderPart('Doe^John')).toBe('Doe^John');
    expect(folderPart('Müller^Jörg')).toBe('Müller^Jörg');
    expect(folderPart('../etc/passwd')).toBe('.._etc_passwd');
    expect(folderPart('a\\b:c*d?"<>|\u0000e')).toBe('a_b_c_d______e');
    expect(folderPart('x'.repeat(100))).toHaveLength(64);
    expect(folderPart('trailing  ')).toBe('trailing');
  });
});

describe('zipStream', () => {
  it('writes each entry in order, ending with the central directory', async () => {
    const zip = await collect(
      zipStream(
        [
          { path: 'a/1.dcm', key: 'k1' },
          { path: 'a/2.dcm', key: 'k2' },
        ],
        store({
          k1: Buffer.from('one'),
          k2: Buffer.from('two'),
        }),
      ),
    );
    expect(zip.readUInt32LE(0)).toBe(0x04034b50); // local file header
    expect(zip.indexOf('a/1.dcm')).toBeLessThan(zip.indexOf('a/2.dcm'));
    expect(zip.includes(Buffer.from([0x50, 0x4b, 0x05, 0x06]))).toBe(true); // end of central directory
  });

  it('closes the file being read when the consumer goes away', async () => {
    const file = new Readable({ read() {} }); // never ends by itself
    const blobs = { open: async () => ({ stream: file, size: 0 }) } as unknown as BlobStore;
    const stream = zipStream([{ path: '1.dcm', key: 'k' }], blobs);
    stream.resume();
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    stream.destroy();
    await new Promise((resolve) => file.once('close', resolve));
    expect(file.destroyed).toBe(true);
  });

  it('fails the stream, not ends it, when a stored file cannot be read', async () => {
    const stream = zipStream(
      [
        { path: '1.dcm', key: 'k1' },
        { path: '2.dcm', key: 'gone' },
      ],
      store({
        k1: Buffer.alloc(1000, 1),
      }),
    );
    await expect(collect(stream)).rejects.toThrow(/stored file gone not found/);
  });
});
