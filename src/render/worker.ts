/**
 * A render worker thread: answers `RenderJob`s from the pool (pool.ts) one at a time. Errors go back as
 * data (code, message, status) so the pool can rebuild the same SluiceError on the other side.
 */
import { setPriority } from 'node:os';
import { parentPort } from 'node:worker_threads';
import sharp from 'sharp';
import { failedAnswer, type WorkerAnswer } from '../worker-pool.js';
import {
  imageInformation,
  renderPng,
  type ImageInformation,
  type PngRequest,
  type PngResult,
} from './render.js';
import { transcodeFile } from './transcode.js';

export type RenderJob =
  | ({ kind: 'png' } & PngRequest)
  | { kind: 'info'; path: string }
  | { kind: 'transcode'; path: string; transferSyntaxUid: string };
export type RenderAnswer = WorkerAnswer<PngResult | ImageInformation | Uint8Array>;

// The pool's workers are the parallelism; libvips' own threads would only compete with them.
sharp.concurrency(1);
sharp.cache(false);
// On Linux the nice value belongs to the thread that sets it: rendering yields the CPU to the event loop
// that serves the API and the DICOM listeners. Elsewhere this would renice the process, so only here.
if (process.platform === 'linux')
  try {
    setPriority(10);
  } catch {
    // not permitted: render at normal priority
  }

const port = parentPort;
if (!port) throw new Error('worker.ts runs as a worker thread (see pool.ts)');

port.on('message', async ({ id, job }: { id: number; job: RenderJob }) => {
  try {
    if (job.kind === 'transcode') {
      const bytes = await transcodeFile(job.path, job.transferSyntaxUid);
      // Moved, not copied, when the bytes own their memory (small Buffers share Node's pool: copied).
      const whole = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
      port.postMessage(
        { id, ok: true, result: bytes } satisfies RenderAnswer,
        whole ? [bytes.buffer as ArrayBuffer] : [],
      );
      return;
    }
    const result = job.kind === 'png' ? await renderPng(job) : await imageInformation(job.path);
    port.postMessage({ id, ok: true, result } satisfies RenderAnswer);
  } catch (err) {
    port.postMessage(failedAnswer(id, err, 'RENDER.FAILED', 'rendering failed') satisfies RenderAnswer);
  }
});
