/** Reading the header of a Part-10 file on disk: the file I/O around the pure parseHeader of src/dicom. */
import { open } from 'node:fs/promises';
import { parseHeader, type DicomHeader } from '../dicom/header.js';
import { InvalidDicomError } from '../errors.js';

/** Largest file we read whole to check it; a bigger one is refused. */
const MAX_WHOLE = 256 * 1024 * 1024;

/** Reads and checks the header of a Part-10 file on disk. */
export async function readHeader(path: string): Promise<DicomHeader> {
  const handle = await open(path, 'r');
  try {
    const { size } = await handle.stat();
    if (size > MAX_WHOLE) throw new InvalidDicomError(`file is larger than ${MAX_WHOLE} bytes`);
    const buf = Buffer.allocUnsafe(size);
    let read = 0;
    while (read < size) {
      const { bytesRead } = await handle.read(buf, read, size - read, read);
      if (bytesRead === 0) break;
      read += bytesRead;
    }
    return parseHeader(buf.subarray(0, read));
  } finally {
    await handle.close();
  }
}
