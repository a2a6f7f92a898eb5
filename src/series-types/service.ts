/**
 * Series types at run time: managed types (state store) and static types (pipeline files) compiled into one
 * classifier, the automatic assignments it sets, and the background job that re-classifies every series
 * when types, rules or attributes change. One job runs at a time; changes during a run ask for one more run.
 */
import { type DicomHeader } from '../dicom/header.js';
import { readStoredHeader } from '../storage/stored-object.js';
import type { BlobStore } from '../storage/blob-store.js';
import type { MetadataIndex } from '../storage/metadata-index.js';
import type { SeriesTypeStore } from './store.js';
import { compileSeriesTypes, type SeriesClassifier, type SeriesTypeSpec } from './classifier.js';
import { logger } from '../ops/logger.js';

const log = logger('series_types');

/** A type declared in a pipeline file: its name is created in the store, its rules stay in the file. */
export interface StaticSeriesType {
  name: string;
  rules: SeriesTypeSpec['rules'];
}

export interface SeriesTypeServiceOptions {
  /** Reads the header of the image stored under a key (default: through the blob store). */
  readHeader?: (key: string) => Promise<DicomHeader>;
  log?: (message: string) => void;
}

const WRITTEN_KEPT = 10_000;

export class SeriesTypeService {
  /**
   * The compiled classifier, as a promise from the moment it is asked: a change that lands while the store
   * answers drops it rather than being overwritten by the older answer. Each envelope then waits a
   * microtask, no query.
   */
  private classifier: Promise<SeriesClassifier> | undefined;
  /** The types last written per series, and by which classifier (the most recent WRITTEN_KEPT series). */
  private readonly written = new Map<number, { classifier: SeriesClassifier; key: string }>();
  /** The write under way per series: the next one for the series waits for it. */
  private readonly perSeries = new Map<number, { done: Promise<void> }>();
  private readonly statics = new Map<symbol, SeriesTypeSpec[]>();
  private job: Promise<void> | undefined;
  private again = false;
  private stopped = false;

  constructor(
    readonly store: SeriesTypeStore,
    private readonly index: MetadataIndex,
    private readonly blobs: BlobStore,
    private readonly options: SeriesTypeServiceOptions,
  ) {}

  /**
   * Adds types from a pipeline file, creating their names in the store; rejects when one cannot be
   * evaluated or the store fails. What it resolves to takes them away.
   */
  async registerStatic(types: readonly StaticSeriesType[]): Promise<() => void> {
    const specs: SeriesTypeSpec[] = [];
    for (const t of types) specs.push({ ...(await this.store.ensureSeriesType(t.name)), rules: t.rules });
    compileSeriesTypes(specs);
    const key = Symbol('static series types');
    this.statics.set(key, specs);
    this.classifier = undefined;
    return () => {
      this.statics.delete(key);
      this.classifier = undefined;
    };
  }

  /** Whether a pipeline file declares the type (its name and rules are the file's, not the API's). */
  isStatic(seriesTypeId: number): boolean {
    return [...this.statics.values()].some((specs) => specs.some((t) => t.id === seriesTypeId));
  }

  /**
   * Sets the series' automatic types from one of its instances' headers; answers the type ids. Calls for one
   * series run one after the other (the last instance's types win, as they arrived); a series this process
   * gave the same types with the same classifier is not written again (most instances of a series: on
   * ClickHouse each write costs milliseconds).
   */
  async classify(seriesId: number, header: Pick<DicomHeader, 'dataset'>): Promise<number[]> {
    const classifier = await this.currentClassifier();
    const ids = classifier(header);
    const key = ids.join(',');
    const before = this.perSeries.get(seriesId);
    const write = (before?.done ?? Promise.resolve()).then(async () => {
      const last = this.written.get(seriesId);
      if (last?.classifier === classifier && last.key === key) return;
      await this.index.setAutomaticSeriesTypes(seriesId, ids);
      this.written.delete(seriesId);
      this.written.set(seriesId, { classifier, key });
      if (this.written.size > WRITTEN_KEPT) this.written.delete(this.written.keys().next().value!);
    });
    const done = write.catch(() => undefined);
    this.perSeries.set(seriesId, { done });
    void done.then(() => {
      if (this.perSeries.get(seriesId)?.done === done) this.perSeries.delete(seriesId);
    });
    await write;
    return ids;
  }

  /** Types, rules or attributes changed: recompile, and re-classify every series in the background. */
  changed(): void {
    this.classifier = undefined;
    if (this.stopped) return;
    this.again = true;
    this.job ??= this.run();
  }

  /**
   * Drops the compiled classifier, without re-classifying: another process may have changed the types, and
   * the process where they changed re-classifies (processes sharing the state store).
   */
  refresh(): void {
    this.classifier = undefined;
  }

  /** Whether a re-classification runs or waits to run (`/api/seriestypes/rules/updatestatus`). */
  get running(): boolean {
    return this.job !== undefined;
  }

  /** Resolves when no re-classification runs. */
  async whenIdle(): Promise<void> {
    while (this.job) await this.job;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.again = false;
    await this.whenIdle();
  }

  private currentClassifier(): Promise<SeriesClassifier> {
    if (this.classifier) return this.classifier;
    const loading = this.compile();
    this.classifier = loading;
    // A failed load is not kept: the next envelope asks again.
    loading.catch(() => {
      if (this.classifier === loading) this.classifier = undefined;
    });
    return loading;
  }

  private async compile(): Promise<SeriesClassifier> {
    const managed = await this.store.seriesTypeDefinitions();
    // A stored attribute that cannot be evaluated (checked at creation, so only from an older version)
    // disables its type rather than classification as a whole.
    const parts: SeriesClassifier[] = [];
    for (const type of managed)
      try {
        parts.push(compileSeriesTypes([type]));
      } catch (err) {
        this.log(`series type ${type.id} ignored: ${(err as Error).message}`);
      }
    for (const specs of this.statics.values()) parts.push(compileSeriesTypes(specs));
    // A static type named like a managed one shares its id: it applies when either's rules match.
    return (header) => [...new Set(parts.flatMap((classify) => classify(header)))].sort((a, b) => a - b);
  }

  private async run(): Promise<void> {
    try {
      while (this.again && !this.stopped) {
        this.again = false;
        await this.reclassifyAll();
      }
    } catch (err) {
      this.log(`series type re-classification failed: ${(err as Error).message}`);
    } finally {
      this.job = undefined;
    }
  }

  private async reclassifyAll(): Promise<void> {
    const read =
      this.options.readHeader ?? (async (key: string) => (await readStoredHeader(this.blobs, key)).header);
    for (const seriesId of await this.index.allSeriesIds()) {
      if (this.stopped || this.again) return; // a newer change restarts the walk with the newer rules
      const [image] = await this.index.list('images', { parentId: seriesId, startIndex: 0, count: 1 });
      if (!image) continue;
      try {
        await this.classify(seriesId, await read(image.sopInstanceUID.value));
      } catch (err) {
        this.log(`series ${seriesId} not re-classified: ${(err as Error).message}`);
      }
    }
  }

  private log(message: string): void {
    if (this.options.log) this.options.log(message);
    else log.warn(message);
  }
}
