/**
 * `watch_folder`: imports every file that appears in a folder (recursively, including what is already
 * there at start). Each file is copied durably into landing, goes through the pipeline, and only once its
 * envelope is settled is the original deleted or moved away: a crash at any point leaves it to be
 * imported again, never lost. Files that are not DICOM are quarantined and removed from the folder too,
 * or they would be imported again at every start.
 */
import { constants as fsConstants } from 'node:fs';
import { access, copyFile, link, lstat, mkdir, open, realpath, stat, unlink } from 'node:fs/promises';
import { basename, dirname, extname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import { Observable } from 'rxjs';
import { z } from 'zod';
import { defineSource } from '../pipeline/component.js';
import type { Envelope } from '../pipeline/envelope.js';
import { STATIC_SOURCE_ID_MAX, type Origin } from '../pipeline/origin.js';
import { ConfigError, SluiceError } from '../errors.js';
import type { Outcome } from '../pipeline/outcome.js';

const config = z
  .strictObject({
    path: z
      .string()
      .min(1)
      .describe(
        'Folder to watch (created when missing; relative paths are inside SLUICE_DATA_DIR); sub-folders are watched too',
      ),
    name: z
      .string()
      .min(1)
      .default('watched folder')
      .describe('Source name shown in /api/sources and series sources'),
    source_id: z
      .number()
      .int()
      .min(0)
      .max(
        STATIC_SOURCE_ID_MAX,
        `at most ${STATIC_SOURCE_ID_MAX}: higher ids are for sources created through the API`,
      )
      .default(1)
      .describe('Source id recorded with every instance ({sourceType: "directory", sourceId})'),
    after_import: z
      .enum(['delete', 'move'])
      .default('delete')
      .describe(
        'What happens to a file once its instance is stored or quarantined: delete it, or move it to move_to',
      ),
    move_to: z
      .string()
      .min(1)
      .optional()
      .describe(
        'Folder that imported files are moved to (keeping their relative path); required when after_import is "move"',
      ),
    stable_ms: z
      .number()
      .int()
      .min(0)
      .default(1000)
      .describe('A file is imported once its size has not changed for this long (it is completely written)'),
    poll_interval_ms: z
      .number()
      .int()
      .min(10)
      .default(100)
      .describe('How often the size of a file being written is checked'),
    concurrency: z.number().int().min(1).max(256).default(4).describe('Files imported at once'),
    ignore_hidden: z
      .boolean()
      .default(true)
      .describe(
        'Skip hidden files and folders (names starting with ".") and partial files ending in .tmp or .part',
      ),
  })
  .superRefine((cfg, ctx) => {
    const problem = moveToProblem(cfg);
    if (problem) ctx.addIssue({ code: 'custom', path: ['move_to'], message: problem });
  });

export type WatchFolderConfig = z.infer<typeof config>;

function moveToProblem(
  cfg: Pick<WatchFolderConfig, 'path' | 'after_import' | 'move_to'>,
): string | undefined {
  if (cfg.after_import !== 'move') return undefined;
  if (!cfg.move_to) return 'required when after_import is "move"';
  if (resolve(cfg.move_to) === resolve(cfg.path)) return 'must not be the watched folder itself';
  return undefined;
}

export const watchFolder = defineSource({
  type: 'watch_folder',
  sourceType: 'directory',
  summary: 'Imports files written into a folder; deletes or moves each one only after it is stored',
  config,
  example: {
    path: 'inbox',
    name: 'inbox',
    source_id: 1,
    after_import: 'move',
    move_to: 'imported',
    stable_ms: 1000,
    poll_interval_ms: 100,
    concurrency: 4,
    ignore_hidden: true,
  },
  create: (cfg, ctx) =>
    new Observable<Envelope>((subscriber) => {
      const dataDir = ctx.services.config.dataDir;
      const root = resolve(dataDir, cfg.path);
      const moveTo = cfg.after_import === 'move' && cfg.move_to ? resolve(dataDir, cfg.move_to) : undefined;
      const inProgress = new Set<string>();
      const queue: string[] = [];
      let active = 0;
      let pumping = false;
      let closed = false;
      let watcher: FSWatcher | undefined;
      let alive: NodeJS.Timeout | undefined;

      const fail = (message: string, cause?: unknown) => {
        if (closed) return;
        subscriber.error(new SluiceError('WATCH_FOLDER.UNUSABLE', `${root}: ${message}`, 500, { cause }));
      };

      const ignored = (path: string, stats?: { isDirectory(): boolean }) => {
        const rel = relative(root, path);
        if (!rel || rel === '..' || rel.startsWith('..' + sep) || isAbsolute(rel)) return false;
        if (moveTo && (path === moveTo || path.startsWith(moveTo + sep))) return true;
        if (!cfg.ignore_hidden) return false;
        if (rel.split(sep).some((part) => part.startsWith('.'))) return true;
        return !stats?.isDirectory() && /\.(tmp|part)$/i.test(path);
      };

      const enqueue = (file: string) => {
        // 'change' events while a file is queued or being imported are ignored: it is taken once.
        if (closed || inProgress.has(file)) return;
        inProgress.add(file);
        queue.push(file);
        void pump();
      };

      const pump = async () => {
        if (pumping) return;
        pumping = true;
        try {
          while (!closed && queue.length && active < cfg.concurrency) {
            // A full pipeline stops the reading here; queued files wait in the folder.
            await ctx.waitForRoom();
            if (closed) break;
            const file = queue.shift()!;
            active++;
            void importFile(file).finally(() => {
              active--;
              inProgress.delete(file);
              void pump();
            });
          }
        } finally {
          pumping = false;
        }
      };

      const importFile = async (file: string) => {
        const rel = relative(root, file);
        try {
          // Symbolic links are never followed: a link in the folder could lead to files elsewhere, which
          // would be imported and then deleted.
          if (!(await isOwnFile(file, root))) {
            console.warn(`watch_folder ${root}: ${rel} skipped (a symbolic link, or not a regular file)`);
            return;
          }
          const outcome = await landAndIngest(file, rel);
          if (!outcome) return;
          if (outcome.kind === 'quarantine') {
            if (!outcome.quarantineId) {
              // Not in quarantine (the engine is stopping, or quarantine failed): keep the original.
              console.warn(
                `watch_folder ${root}: ${rel} not imported (${outcome.error.code}: ${outcome.error.message})`,
              );
              return;
            }
            console.warn(
              `watch_folder ${root}: ${rel} quarantined as ${outcome.quarantineId} (${outcome.error.code}: ${outcome.error.message})`,
            );
          }
          if (!(await isOwnFile(file, root))) return; // replaced by a link meanwhile: leave it
          await (moveTo ? moveWithoutClobbering(file, join(moveTo, rel)) : removeIfPresent(file));
        } catch (err) {
          if (isMissing(err)) return; // vanished before we read it: someone else took it
          ctx.counters.errors++;
          console.warn(`watch_folder ${root}: cannot import ${rel}: ${(err as Error).message}`);
        }
      };

      // Lands the file and ingests it; undefined when the source was closed before the envelope went out.
      const landAndIngest = async (file: string, rel: string): Promise<Outcome | undefined> => {
        const ref = { sourceType: 'directory' as const, sourceId: cfg.source_id };
        const handle = await open(file, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW);
        const landed = await ctx.landing.land(handle.createReadStream(), ref);
        const origin: Origin = { ...ref, sourceName: cfg.name, detail: rel };
        let notDelivered: () => void = () => undefined;
        const closedBeforeEmit = new Promise<undefined>((r) => (notDelivered = () => r(undefined)));
        const emit = (envelope: Envelope) => (subscriber.closed ? notDelivered() : subscriber.next(envelope));
        const outcome = subscriber.closed
          ? undefined
          : await Promise.race([ctx.ingest(emit, landed.path, origin), closedBeforeEmit]);
        // Nobody will settle an envelope that was never delivered: drop the copy, keep the original.
        if (!outcome) await ctx.landing.release(landed.path);
        return outcome;
      };

      const start = async () => {
        await mkdir(root, { recursive: true });
        if (closed) return;
        watcher = watch(root, {
          ignoreInitial: false,
          awaitWriteFinish: { stabilityThreshold: cfg.stable_ms, pollInterval: cfg.poll_interval_ms },
          ignored,
          followSymlinks: false,
        });
        watcher.on('add', enqueue);
        watcher.on('change', enqueue);
        watcher.on('unlinkDir', (dir) => {
          if (dir === root) fail('the watched folder was removed');
        });
        watcher.on('error', (err) => void checkUsable(err));
        // Watchers do not always report their own folder going away: look at it now and then.
        alive = setInterval(() => {
          stat(root).then(
            (info) => info.isDirectory() || fail('the watched folder was replaced by a file'),
            () => fail('the watched folder was removed'),
          );
        }, 2000);
        alive.unref();
      };

      // A watcher error is fatal only when the folder can no longer be watched.
      const checkUsable = async (err: unknown) => {
        const code = (err as NodeJS.ErrnoException).code;
        const usable =
          code !== 'ENOSPC' &&
          (await access(root, fsConstants.R_OK | fsConstants.W_OK).then(
            async () => (await stat(root)).isDirectory(),
            () => false,
          ));
        if (usable) console.warn(`watch_folder ${root}: ${(err as Error).message}`);
        else fail(`cannot be watched: ${(err as Error).message}`, err);
      };

      // Pipeline files are linted with the config's fields only, without its refinements: check again.
      const problem = moveToProblem(cfg);
      if (problem) subscriber.error(new ConfigError(`watch_folder move_to: ${problem}`));
      else {
        const started = start();
        ctx.starting(started);
        started.catch((err) => fail(`cannot be created: ${(err as Error).message}`, err));
      }

      return () => {
        closed = true;
        queue.length = 0;
        clearInterval(alive);
        void watcher?.close();
      };
    }),
});

/** A regular file (not a link) whose real path is inside the watched folder's real path. */
async function isOwnFile(file: string, root: string): Promise<boolean> {
  const info = await lstat(file);
  if (!info.isFile()) return false;
  const [real, realRoot] = await Promise.all([realpath(file), realpath(root)]);
  const rel = relative(realRoot, real);
  return !!rel && !rel.startsWith('..' + sep) && rel !== '..' && !isAbsolute(rel);
}

function isMissing(err: unknown): boolean {
  return (err as NodeJS.ErrnoException)?.code === 'ENOENT';
}

async function removeIfPresent(file: string): Promise<void> {
  await unlink(file).catch((err) => {
    if (!isMissing(err)) throw err;
  });
}

/** Moves `file` to `target`, creating folders; an existing file there is kept and a suffix added. */
async function moveWithoutClobbering(file: string, target: string): Promise<void> {
  await mkdir(dirname(target), { recursive: true });
  const ext = extname(target);
  const stem = join(dirname(target), basename(target, ext));
  for (let n = 0; n < 1000; n++) {
    const candidate = n === 0 ? target : `${stem}-${n}${ext}`;
    try {
      // link and COPYFILE_EXCL fail on an existing name instead of overwriting it (rename would not).
      await link(file, candidate).catch(async (err: NodeJS.ErrnoException) => {
        if (err.code === 'EEXIST' || err.code === 'ENOENT') throw err;
        await copyFile(file, candidate, fsConstants.COPYFILE_EXCL);
      });
      await removeIfPresent(file);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  throw new Error(`no free name for ${target}`);
}
