/**
 * The engine: running pipelines plus the services the API reaches them through.
 */
import { resolve } from 'node:path';
import type { Readable } from 'node:stream';
import type { Origin } from './origin.js';
import type { SourceDefinition } from './component.js';
import { SluiceError } from '../errors.js';
import type { PipelineSpec } from './pipeline-file.js';
import { PipelineRunner, type PipelineStatus } from './runner.js';
import type { Source } from '../storage/metadata-index.js';
import type { EngineServices } from './services.js';
import type { Outcome } from './outcome.js';

export class Engine {
  private readonly runners: PipelineRunner[] = [];

  constructor(readonly services: EngineServices) {}

  async start(specs: PipelineSpec[]): Promise<void> {
    const names = new Set<string>();
    for (const spec of specs) {
      if (names.has(spec.name))
        throw new SluiceError('CONFIG.DUPLICATE_PIPELINE', `two pipelines are named "${spec.name}"`);
      names.add(spec.name);
    }
    try {
      for (const spec of specs) {
        const runner = new PipelineRunner(spec, this.services);
        this.runners.push(runner);
        await runner.start();
      }
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  /** Stops every pipeline; answers whether any instance was still in flight. */
  async stop(): Promise<boolean> {
    let interrupted = false;
    for (const runner of this.runners.splice(0).reverse()) if (await runner.stop()) interrupted = true;
    return interrupted;
  }

  pipelines(): PipelineStatus[] {
    return this.runners.map((r) => r.status());
  }

  /** What is not working: each stopped pipeline and each failed or starting source, in words. */
  problems(): string[] {
    const split = this.services.split;
    const stores = [
      this.services.blobs,
      this.services.index,
      this.services.state,
      ...(split ? [split.bus, split.incoming] : []),
    ];
    return [
      ...stores.flatMap((store) => store.problem() ?? []),
      ...this.pipelines().flatMap((p) => [
        ...(p.running ? [] : [`pipeline ${p.name} is not running`]),
        ...p.components
          .filter((c) => c.state && c.state !== 'running')
          .map(
            (c) => `pipeline ${p.name} ${c.path} (${c.type}) is ${c.state}${c.error ? `: ${c.error}` : ''}`,
          ),
      ]),
    ];
  }

  /** Feeds an uploaded Part-10 body through the pipeline that has an `http_upload` source. */
  upload(body: Readable, origin: Origin): Promise<Outcome> {
    const handler = this.services.uploads.current;
    const split = this.services.split;
    if (!handler && split && !split.frontend)
      throw new SluiceError(
        'ENGINE.NOT_A_FRONTEND',
        "this process does not run the pipelines' sources (SLUICE_ROLE without frontend): send uploads to a front end",
        503,
      );
    if (!handler)
      throw new SluiceError('ENGINE.NO_UPLOAD_SOURCE', 'no running pipeline has an http_upload source', 503);
    return handler(body, origin);
  }

  /** Ports and folders taken by sources declared in pipeline files (managed sources may not reuse them). */
  staticListeners(): { ports: number[]; folders: string[] } {
    const ports: number[] = [];
    const folders: string[] = [];
    const { config } = this.services;
    for (const runner of this.runners)
      for (const entry of runner.spec.sources) {
        const cfg = entry.config as { port?: number; path?: string };
        if (entry.def.type === 'dicom_scp') ports.push(cfg.port ?? config.dicomPort);
        if (entry.def.type === 'watch_folder' && cfg.path) folders.push(resolve(config.dataDir, cfg.path));
      }
    return { ports, folders };
  }

  /** Static sources declared in pipeline files, as `/api/sources` lists them. */
  sources(): Source[] {
    const out: Source[] = [];
    for (const runner of this.runners)
      for (const entry of runner.spec.sources) {
        const cfg = entry.config as { source_id?: number; name?: string };
        const sourceType = (entry.def as SourceDefinition).sourceType;
        if (sourceType && sourceType !== 'user')
          out.push({ sourceType, sourceId: cfg.source_id ?? 1, sourceName: cfg.name ?? entry.def.type });
      }
    return out;
  }
}
