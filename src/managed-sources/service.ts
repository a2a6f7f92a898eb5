/**
 * SCPs, watched directories and import sessions that users create and delete at run time. Rows live in the
 * state store; a running pipeline's `managed_sources` source follows them (opens the listener, starts the
 * watcher, takes the uploads) so a 201 means the source is already working. Validation is done here, once,
 * for the API and for anything else that creates sources.
 */
import { createServer } from 'node:net';
import { realpath, stat } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import type { SourceRef } from '../pipeline/origin.js';
import { BadRequestError, NotFoundError, SluiceError } from '../errors.js';
import type { ImportSession, ManagedSourceStore, ScpData, WatchedDirectory } from './store.js';
import type { Source } from '../storage/metadata-index.js';
import type { UserInfo } from '../users/store.js';
import type { Outcome } from '../pipeline/outcome.js';
import type { LogService } from '../log/service.js';
import { logger } from '../ops/logger.js';

const log = logger('managed_sources');

/** What a running pipeline's `managed_sources` source offers the service. */
export interface ManagedSourceFollower {
  /** Resolves once the SCP listens; rejects (e.g. port taken) without leaving anything open. */
  openScp(scp: ScpData): Promise<void>;
  closeScp(id: number): Promise<void>;
  /** Resolves once the watcher has started (files already in the folder are queued for import). */
  openWatch(dir: WatchedDirectory): Promise<void>;
  closeWatch(id: number): Promise<void>;
  /** Lands the body and runs it through the pipeline as the session's; resolves when settled. */
  importFile(session: ImportSession, body: Readable, filename: string | undefined): Promise<Outcome>;
}

export interface ManagedSourceOptions {
  /** Where SCP listeners bind (SLUICE_DICOM_HOST). */
  dicomHost: string;
  /** Watched directories must be inside this folder (SLUICE_WATCH_ROOT); relative paths resolve in it. */
  watchRoot: string;
  /** The data directory: a watch may not reach into it (storage, landing, quarantine). */
  dataDir: string;
  /** Ports and folders taken by sources declared in pipeline files. */
  staticSources: () => { ports: number[]; folders: string[] };
  /** Where sources starting, stopping and failing to start are recorded (`/api/log`). */
  log?: LogService;
}

const AE_TITLE = /^[\x20-\x5b\x5d-\x7e]+$/;

/** Answers whether a TCP port can be bound on `host` right now. */
export function portIsFree(host: string, port: number): Promise<boolean> {
  return new Promise((done) => {
    const server = createServer();
    server.once('error', () => done(false));
    server.listen({ host, port, exclusive: true }, () => server.close(() => done(true)));
  });
}

const inside = (child: string, parent: string) => {
  const rel = relative(parent, child);
  return rel === '' || (!!rel && rel !== '..' && !rel.startsWith('..' + sep) && !isAbsolute(rel));
};

export class ManagedSourceService {
  private follower: ManagedSourceFollower | undefined;
  private readonly deletedListeners: Array<(source: SourceRef) => void | Promise<void>> = [];
  /** The SCPs and watches the follower was asked to open (opened, or reported as failed). */
  private readonly followed = { scps: new Set<number>(), watches: new Set<number>() };
  /** Serialises creations and deletions: validation and opening must see each other's results. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly store: ManagedSourceStore,
    private readonly options: ManagedSourceOptions,
  ) {}

  private serial<T>(work: () => Promise<T>): Promise<T> {
    const next = this.queue.then(work, work);
    this.queue = next.catch(() => undefined);
    return next;
  }

  /**
   * A pipeline's `managed_sources` source starts following: every stored SCP and watch is opened (one that
   * cannot open is reported and skipped; the others keep working). Answers the detach function.
   */
  async attach(follower: ManagedSourceFollower): Promise<() => void> {
    if (this.follower) throw new Error('only one managed_sources source may run at a time');
    this.follower = follower;
    this.followed.scps.clear();
    this.followed.watches.clear();
    await this.serial(async () => {
      for (const scp of await this.store.listScps(0, Number.MAX_SAFE_INTEGER)) {
        this.followed.scps.add(scp.id);
        await follower.openScp(scp).then(
          () => this.logScp(scp, 'opened'),
          (err: Error) => {
            log.error({ scp: scp.id, scpName: scp.name, err }, 'SCP not opened');
            this.log('SCP', 'ERROR', `SCP ${scp.id} "${scp.name}" not opened: ${err.message}`);
          },
        );
      }
      for (const dir of await this.store.listWatchedDirectories(0, Number.MAX_SAFE_INTEGER)) {
        this.followed.watches.add(dir.id);
        await follower.openWatch(dir).then(
          () => this.logWatch(dir, 'started'),
          (err: Error) => {
            log.error({ directory: dir.id, directoryName: dir.name, err }, 'watched directory not started');
            this.log(
              'Directory',
              'ERROR',
              `Watched directory ${dir.id} "${dir.name}" not started: ${err.message}`,
            );
          },
        );
      }
    });
    return () => {
      if (this.follower === follower) this.follower = undefined;
    };
  }

  /**
   * Follows what other processes changed in the store (an API process created an SCP): opens what the
   * follower was not asked to open yet, closes what is gone. Called every second when processes share the
   * state store.
   */
  async resync(): Promise<void> {
    const follower = this.follower;
    if (!follower) return;
    await this.serial(async () => {
      const scps = await this.store.listScps(0, Number.MAX_SAFE_INTEGER);
      const dirs = await this.store.listWatchedDirectories(0, Number.MAX_SAFE_INTEGER);
      for (const scp of scps.filter((s) => !this.followed.scps.has(s.id))) {
        this.followed.scps.add(scp.id);
        await follower.openScp(scp).then(
          () => this.logScp(scp, 'opened'),
          (err: Error) => log.error({ scp: scp.id, scpName: scp.name, err }, 'SCP not opened'),
        );
      }
      for (const id of [...this.followed.scps].filter((id) => !scps.some((s) => s.id === id))) {
        this.followed.scps.delete(id);
        await follower.closeScp(id).catch((err: Error) => log.warn({ scp: id, err }, 'closing SCP'));
      }
      for (const dir of dirs.filter((d) => !this.followed.watches.has(d.id))) {
        this.followed.watches.add(dir.id);
        await follower.openWatch(dir).then(
          () => this.logWatch(dir, 'started'),
          (err: Error) => log.error({ directory: dir.id, err }, 'watched directory not started'),
        );
      }
      for (const id of [...this.followed.watches].filter((id) => !dirs.some((d) => d.id === id))) {
        this.followed.watches.delete(id);
        await follower
          .closeWatch(id)
          .catch((err: Error) => log.warn({ directory: id, err }, 'closing watch'));
      }
    });
  }

  /** Called with every deleted source (tag filter associations, forwarding rules go with it). */
  onSourceDeleted(listener: (source: SourceRef) => void | Promise<void>): void {
    this.deletedListeners.push(listener);
  }

  private log(subject: string, type: 'INFO' | 'ERROR', message: string): void {
    void this.options.log?.write({ subject, type, message });
  }

  private logScp(scp: ScpData, what: 'opened' | 'closed'): void {
    this.log('SCP', 'INFO', `SCP ${scp.id} "${scp.name}" ${what} (${scp.aeTitle} on port ${scp.port})`);
  }

  private logWatch(dir: WatchedDirectory, what: 'started' | 'stopped'): void {
    this.log('Directory', 'INFO', `Watched directory ${dir.id} "${dir.name}" ${what} (${dir.path})`);
  }

  /** Tells the listeners one after the other; the first that fails stops the rest, as a throw did. */
  private async deleted(source: SourceRef): Promise<void> {
    for (const listener of this.deletedListeners) await listener(source);
  }

  /** Every managed source, as `/api/sources` lists them. */
  async sources(): Promise<Source[]> {
    const all = Number.MAX_SAFE_INTEGER;
    return [
      ...(await this.store.listScps(0, all)).map((s) => ({
        sourceType: 'scp' as const,
        sourceName: s.name,
        sourceId: s.id,
      })),
      ...(await this.store.listWatchedDirectories(0, all)).map((d) => ({
        sourceType: 'directory' as const,
        sourceName: d.name,
        sourceId: d.id,
      })),
      ...(await this.store.listImportSessions(0, all)).map((s) => ({
        sourceType: 'import' as const,
        sourceName: s.name,
        sourceId: s.id,
      })),
    ];
  }

  // ------------------------------------------------------------------------------------------ SCPs

  async listScps(startIndex: number, count: number): Promise<ScpData[]> {
    return await this.store.listScps(startIndex, count);
  }

  createScp(input: {
    name: string;
    aeTitle: string;
    port: number;
    queryRetrieve?: boolean;
  }): Promise<ScpData> {
    const name = input.name.trim();
    const aeTitle = input.aeTitle.trim();
    if (!name) throw new BadRequestError('SCP name must not be empty');
    if (!aeTitle || aeTitle.length > 16)
      throw new BadRequestError(`AE title must be 1 to 16 characters, got ${aeTitle.length}`);
    if (!AE_TITLE.test(aeTitle))
      throw new BadRequestError('AE title must be printable ASCII characters without backslash');
    if (!Number.isInteger(input.port) || input.port < 1 || input.port > 65535)
      throw new BadRequestError(`port must be an integer in 1..65535, got ${input.port}`);
    return this.serial(async () => {
      const { port } = input;
      const taken = (await this.store.listScps(0, Number.MAX_SAFE_INTEGER)).find((s) => s.port === port);
      if (taken) throw new BadRequestError(`port ${port} is in use by SCP ${taken.id} (${taken.name})`);
      if (this.options.staticSources().ports.includes(port))
        throw new BadRequestError(`port ${port} is in use by an SCP declared in a pipeline file`);
      if (!(await portIsFree(this.options.dicomHost, port)))
        throw new BadRequestError(`port ${port} is in use on ${this.options.dicomHost}`);
      const scp = await this.store.insertScp({
        name,
        aeTitle,
        port,
        queryRetrieve: input.queryRetrieve ?? true,
      });
      try {
        await this.follower?.openScp(scp);
      } catch (err) {
        await this.store.deleteScp(scp.id);
        throw new BadRequestError(`cannot open an SCP on port ${port}: ${(err as Error).message}`);
      }
      if (this.follower) {
        this.followed.scps.add(scp.id);
        this.logScp(scp, 'opened');
      }
      return scp;
    });
  }

  deleteScp(id: number): Promise<void> {
    return this.serial(async () => {
      const scp = await this.store.scp(id);
      if (!scp) return;
      await this.follower?.closeScp(id);
      this.followed.scps.delete(id);
      await this.store.deleteScp(id);
      if (this.follower) this.logScp(scp, 'closed');
      await this.deleted({ sourceType: 'scp', sourceId: id });
    });
  }

  // ------------------------------------------------------------------------------- watched folders

  async listWatchedDirectories(startIndex: number, count: number): Promise<WatchedDirectory[]> {
    return await this.store.listWatchedDirectories(startIndex, count);
  }

  /** Slicebox: the same path and name answer the existing watch; otherwise overlapping watches are refused. */
  createWatchedDirectory(input: { name: string; path: string }): Promise<WatchedDirectory> {
    const name = input.name.trim();
    if (!name) throw new BadRequestError('watched directory name must not be empty');
    if (!input.path.trim()) throw new BadRequestError('watched directory path must not be empty');
    if (input.path.includes('\0')) throw new BadRequestError('watched directory path contains a NUL byte');
    const root = resolve(this.options.watchRoot);
    const path = resolve(root, input.path);
    if (!inside(path, root))
      throw new BadRequestError(
        `watched directory ${input.path} is outside the folder watches may be created in (SLUICE_WATCH_ROOT = ${root})`,
      );
    const dataDir = resolve(this.options.dataDir);
    for (const own of ['storage', 'landing', 'quarantine'].map((d) => join(dataDir, d)))
      if (inside(path, own) || inside(own, path))
        throw new BadRequestError(`watched directory ${input.path} overlaps Sluice's own folder ${own}`);
    return this.serial(async () => {
      const info = await stat(path).catch(() => undefined);
      if (!info?.isDirectory()) throw new BadRequestError(`${input.path} is not a directory`);
      // Checked again on the real path: a symbolic link inside the root may lead anywhere.
      const real = await realpath(path);
      const realRoot = await realpath(root);
      if (!inside(real, realRoot))
        throw new BadRequestError(
          `watched directory ${input.path} leads outside the folder watches may be created in (SLUICE_WATCH_ROOT = ${root}) through a symbolic link`,
        );
      for (const own of ['storage', 'landing', 'quarantine'].map((d) => join(dataDir, d))) {
        const realOwn = await realpath(own).catch(() => own);
        if (inside(real, realOwn) || inside(realOwn, real))
          throw new BadRequestError(`watched directory ${input.path} overlaps Sluice's own folder ${own}`);
      }
      const existing = await this.store.listWatchedDirectories(0, Number.MAX_SAFE_INTEGER);
      const same = existing.find((d) => d.path === real);
      if (same) {
        if (same.name === name) return same;
        throw new BadRequestError(`${real} is already watched as "${same.name}"`);
      }
      const overlapping = [
        ...existing.map((d) => ({ path: d.path, what: `watched directory ${d.id} (${d.name})` })),
        ...this.options
          .staticSources()
          .folders.map((f) => ({ path: resolve(f), what: 'a folder watched by a pipeline file' })),
      ].find((d) => inside(real, d.path) || inside(d.path, real));
      if (overlapping)
        throw new BadRequestError(
          `${real} ${inside(real, overlapping.path) ? 'is inside' : 'contains'} ${overlapping.what} at ${overlapping.path}`,
        );
      const dir = await this.store.insertWatchedDirectory({ name, path: real });
      try {
        await this.follower?.openWatch(dir);
      } catch (err) {
        await this.store.deleteWatchedDirectory(dir.id);
        throw new BadRequestError(`cannot watch ${real}: ${(err as Error).message}`);
      }
      if (this.follower) {
        this.followed.watches.add(dir.id);
        this.logWatch(dir, 'started');
      }
      return dir;
    });
  }

  deleteWatchedDirectory(id: number): Promise<void> {
    return this.serial(async () => {
      const dir = await this.store.watchedDirectory(id);
      if (!dir) return;
      await this.follower?.closeWatch(id);
      this.followed.watches.delete(id);
      await this.store.deleteWatchedDirectory(id);
      if (this.follower) this.logWatch(dir, 'stopped');
      await this.deleted({ sourceType: 'directory', sourceId: id });
    });
  }

  // ------------------------------------------------------------------------------- import sessions

  async listImportSessions(startIndex: number, count: number): Promise<ImportSession[]> {
    return await this.store.listImportSessions(startIndex, count);
  }

  async importSession(id: number): Promise<ImportSession> {
    const session = await this.store.importSession(id);
    if (!session) throw new NotFoundError(`import session ${id}`);
    return session;
  }

  /**
   * Slicebox: the same name and user answer the existing session; the same name for another user is 400.
   * Serialised with the other creations, so that two requests with one name cannot both find it free.
   */
  async createImportSession(name: string, user: UserInfo): Promise<ImportSession> {
    const trimmed = name.trim();
    if (!trimmed) throw new BadRequestError('import session name must not be empty');
    return this.serial(async () => {
      const existing = await this.store.importSessionByName(trimmed);
      if (existing) {
        if (existing.userId === user.id) return existing;
        throw new BadRequestError(`an import session named "${trimmed}" belongs to another user`);
      }
      return await this.store.insertImportSession(
        { name: trimmed, userId: user.id, user: user.user },
        Date.now(),
      );
    });
  }

  /** Images stay; the session and its image list go. Only its owner or an administrator may delete it. */
  async deleteImportSession(id: number, by: UserInfo): Promise<void> {
    const session = await this.store.importSession(id);
    if (!session) return;
    if (session.userId !== by.id && by.role === 'USER')
      throw new SluiceError('AUTH.FORBIDDEN', `import session ${id} belongs to another user`, 403);
    await this.store.deleteImportSession(id);
    await this.deleted({ sourceType: 'import', sourceId: id });
  }

  async importSessionImageIds(id: number): Promise<number[]> {
    await this.importSession(id);
    return await this.store.importSessionImageIds(id);
  }

  /** Runs one uploaded file through the pipeline as the session's and counts it. */
  async importFile(id: number, body: Readable, filename: string | undefined): Promise<Outcome> {
    const session = await this.importSession(id);
    const follower = this.follower;
    if (!follower)
      throw new SluiceError(
        'ENGINE.NO_MANAGED_SOURCES',
        'no running pipeline has a managed_sources source to take import sessions',
        503,
      );
    const outcome = await follower.importFile(session, body, filename);
    const now = Date.now();
    if (outcome.kind === 'ack') {
      const indexed = outcome.envelope.facts.indexed;
      const counter = indexed?.created === false ? 'duplicate' : 'added';
      await this.store.countImport(id, counter, indexed?.image.id, now);
    } else if (outcome.kind === 'quarantine' && outcome.error.httpStatus === 400)
      await this.store.countImport(id, 'rejected', undefined, now);
    else if (outcome.kind === 'drop') await this.store.countImport(id, 'duplicate', undefined, now);
    return outcome;
  }
}
