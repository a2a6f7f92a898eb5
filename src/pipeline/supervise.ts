/**
 * Sources fail alone. All sources of a pipeline are merged into one stream, so one source's error would
 * end every other source with it (uploads 503, the inbox unread) while the pipeline still looked alive.
 * Each source runs under a supervisor instead: its error is caught, shown in its status and logged, and
 * the source is opened again after a delay that doubles from 1 s up to a minute; the others go on.
 */
import { Observable, retry, timer } from 'rxjs';
import type { Envelope } from './envelope.js';

export type SourceState = 'starting' | 'running' | 'failed';

/** What a supervised source is doing, for `/api/pipelines` and health. */
export class SourceHealth {
  state: SourceState = 'starting';
  error: string | undefined;
  /** Times the source failed since it was last up. */
  failures = 0;
  private first: { resolve: () => void; reject: (err: Error) => void } | undefined;
  /** Settles when the source is up for the first time, or fails before it ever was. */
  readonly firstUp: Promise<void>;

  constructor() {
    this.firstUp = new Promise((resolve, reject) => (this.first = { resolve, reject }));
    this.firstUp.catch(() => undefined); // awaited by the runner's start, and only then
  }

  /** Set when the source, as it opened, said it would tell when it is up. */
  private announced = false;

  /** A new attempt to open the source. */
  opening(): void {
    this.state = 'starting';
    this.announced = false;
  }

  /** The source opened without announcing anything: it is up now. */
  opened(): void {
    if (!this.announced) this.up();
  }

  /** The source said it is opening something that may fail (a port, a folder): up when `ready` resolves. */
  starting(ready: Promise<unknown>): void {
    this.state = 'starting';
    this.announced = true;
    ready.then(
      () => this.up(),
      () => undefined, // the source errors its stream too; the supervisor records that
    );
  }

  up(): void {
    this.state = 'running';
    this.error = undefined;
    this.failures = 0;
    this.first?.resolve();
    this.first = undefined;
  }

  fail(err: Error): void {
    this.state = 'failed';
    this.error = err.message;
    this.failures++;
    this.first?.reject(err);
    this.first = undefined;
  }
}

export const RESTART_BASE_MS = 1000;
export const RESTART_MAX_MS = 60_000;

/**
 * Opens the source (calling `open`) and opens it again after each error. A source that never calls
 * `health.starting` is up as soon as it is opened.
 */
export function supervise(
  open: () => Observable<Envelope>,
  health: SourceHealth,
  onFailure: (err: Error, retryInMs: number) => void,
): Observable<Envelope> {
  return new Observable<Envelope>((subscriber) => {
    health.opening();
    // A source subscribes synchronously: by the time this returns it has announced itself or not.
    const subscription = open().subscribe(subscriber);
    if (!subscriber.closed) health.opened();
    return subscription;
  }).pipe(
    retry({
      delay: (err: unknown) => {
        const error = err instanceof Error ? err : new Error(String(err));
        health.fail(error);
        const wait = Math.min(RESTART_BASE_MS * 2 ** (health.failures - 1), RESTART_MAX_MS);
        onFailure(error, wait);
        return timer(wait);
      },
    }),
  );
}
