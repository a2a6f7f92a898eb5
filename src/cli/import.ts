/**
 * `sluice import`: sends DICOM files to a running engine's `POST /api/images` (its http_upload source)
 * with a few uploads at once, each file streamed from disk. 201 is a new instance, 200 one already stored,
 * 400 a refusal with the engine's reason (quarantined there); anything else is a failure to send.
 */
import { createReadStream } from 'node:fs';
import { open, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { SluiceError } from '../errors.js';
import { ProgressBar, duration, type ProgressState } from './progress.js';

export interface ImportOptions {
  url: string;
  user: string;
  password: string;
  jobs: number;
  progress: boolean;
  /** Where the summary and refusals are written (standard output and error by default). */
  out?: (line: string) => void;
  err?: (line: string) => void;
}

export interface ImportSummary {
  files: number;
  added: number;
  existing: number;
  refused: number;
  failed: number;
  skipped: number;
  bytes: number;
  seconds: number;
}

/** Ends the whole import: its message is all the user needs. */
class Fatal extends SluiceError {
  constructor(message: string) {
    super('IMPORT.FAILED', message);
  }
}

/** Regular files under the folders and the files named, sorted; links are not followed. */
async function collect(paths: string[]): Promise<Array<{ path: string; size: number }>> {
  const files: Array<{ path: string; size: number }> = [];
  for (const path of paths) {
    const info = await stat(path).catch(() => undefined);
    if (!info) throw new Fatal(`import: ${path}: no such file or folder`);
    if (info.isFile()) files.push({ path, size: info.size });
    else if (info.isDirectory()) {
      const entries = await readdir(path, { recursive: true, withFileTypes: true });
      for (const e of entries)
        if (e.isFile()) {
          const full = join(e.parentPath ?? (e as unknown as { path: string }).path, e.name);
          files.push({ path: full, size: (await stat(full)).size });
        }
    }
  }
  return files.sort((a, b) => a.path.localeCompare(b.path));
}

/** Part-10: "DICM" after the 128-byte preamble. */
async function isPart10(path: string): Promise<boolean> {
  const handle = await open(path, 'r');
  try {
    const buf = Buffer.alloc(4);
    const { bytesRead } = await handle.read(buf, 0, 4, 128);
    return bytesRead === 4 && buf.toString('latin1') === 'DICM';
  } finally {
    await handle.close();
  }
}

export async function importFiles(paths: string[], options: ImportOptions): Promise<ImportSummary> {
  const out = options.out ?? ((line: string) => void process.stdout.write(`${line}\n`));
  const err = options.err ?? ((line: string) => void process.stderr.write(`${line}\n`));
  const started = performance.now();
  const all = await collect(paths);
  const files: typeof all = [];
  let skipped = 0;
  for (const f of all)
    if (await isPart10(f.path)) files.push(f);
    else skipped++;
  const state: ProgressState = {
    done: 0,
    total: files.length,
    bytes: 0,
    totalBytes: files.reduce((n, f) => n + f.size, 0),
    failed: 0,
  };
  const summary: ImportSummary = {
    files: files.length,
    added: 0,
    existing: 0,
    refused: 0,
    failed: 0,
    skipped,
    bytes: 0,
    seconds: 0,
  };
  const bar = new ProgressBar(state, options.progress ? process.stderr : undefined);
  const endpoint = `${options.url.replace(/\/+$/, '')}/api/images`;
  const authorization = `Basic ${Buffer.from(`${options.user}:${options.password}`).toString('base64')}`;
  let fatal: Error | undefined;
  let next = 0;

  const send = async (file: { path: string; size: number }) => {
    let response: Response;
    try {
      response = await fetch(endpoint, {
        method: 'POST',
        headers: {
          Authorization: authorization,
          'Content-Type': 'application/dicom',
          'X-Requested-With': 'sluice-import',
        },
        body: Readable.toWeb(createReadStream(file.path)) as ReadableStream,
        duplex: 'half',
      } as RequestInit);
    } catch (e) {
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      if (cause?.code === 'ECONNREFUSED')
        throw new Fatal(
          `import: no engine answers at ${options.url} (start one with \`sluice start\`, or give --url)`,
        );
      summary.failed++;
      if (options.progress) process.stderr.write('\n');
      err(`${file.path}: ${cause?.message ?? (e as Error).message}`);
      return;
    }
    const text = await response.text();
    if (response.status === 401 || response.status === 403)
      throw new Fatal(
        `import: ${options.url} refused the credentials of "${options.user}" (${response.status}: ${text})`,
      );
    if (response.status === 201) summary.added++;
    else if (response.status === 200) summary.existing++;
    else {
      if (response.status === 400) summary.refused++;
      else summary.failed++;
      if (options.progress) process.stderr.write('\r\x1b[K');
      err(`${file.path}: ${response.status} ${text.trim()}`);
    }
    if (response.status === 503) throw new Fatal(`import: the engine cannot take uploads (${text.trim()})`);
  };

  const worker = async () => {
    while (!fatal && next < files.length) {
      const file = files[next++];
      try {
        await send(file);
      } catch (e) {
        fatal ??= e as Error;
        return;
      }
      state.done++;
      state.bytes += file.size;
      state.failed = summary.refused + summary.failed;
      summary.bytes += file.size;
      bar.update();
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.jobs, Math.max(1, files.length)) }, worker));
  bar.end();
  summary.seconds = (performance.now() - started) / 1000;
  if (fatal) {
    if (fatal instanceof Fatal) {
      err(fatal.message);
      summary.failed += files.length - state.done;
      return summary;
    }
    throw fatal;
  }
  const mb = summary.bytes / 1e6;
  out(
    `imported ${summary.files} file(s), ${mb.toFixed(1)} MB in ${duration(summary.seconds)} ` +
      `(${summary.seconds > 0 ? (mb / summary.seconds).toFixed(1) : '0.0'} MB/s): ` +
      `${summary.added} new, ${summary.existing} already stored, ${summary.refused} refused, ${summary.failed} failed` +
      (skipped ? `; ${skipped} file(s) skipped (not DICOM Part-10)` : ''),
  );
  return summary;
}
