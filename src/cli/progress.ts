/**
 * A one-line progress bar for a terminal: files done of total, MB/s, ETA and failures, redrawn at most
 * ten times a second on standard error.
 */
export interface ProgressState {
  done: number;
  total: number;
  bytes: number;
  totalBytes: number;
  failed: number;
}

export function formatProgress(s: ProgressState, elapsedMs: number, width = 24): string {
  const fraction = s.totalBytes > 0 ? s.bytes / s.totalBytes : s.total > 0 ? s.done / s.total : 1;
  const filled = Math.round(Math.min(1, fraction) * width);
  const rate = elapsedMs > 0 ? s.bytes / 1e6 / (elapsedMs / 1000) : 0;
  const remaining = rate > 0 ? (s.totalBytes - s.bytes) / 1e6 / rate : undefined;
  return (
    `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${s.done}/${s.total} files ` +
    `${rate.toFixed(1)} MB/s ETA ${remaining === undefined ? '?' : duration(remaining)}` +
    (s.failed ? ` ${s.failed} failed` : '')
  );
}

export function duration(secs: number): string {
  if (!Number.isFinite(secs)) return '?';
  const s = Math.max(0, Math.round(secs));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

export class ProgressBar {
  private readonly started = performance.now();
  private lastDraw = 0;

  constructor(
    private readonly state: ProgressState,
    private readonly out: NodeJS.WriteStream | undefined,
  ) {}

  update(force = false): void {
    if (!this.out) return;
    const now = performance.now();
    if (!force && now - this.lastDraw < 100) return;
    this.lastDraw = now;
    this.out.write(`\r${formatProgress(this.state, now - this.started)}\x1b[K`);
  }

  end(): void {
    if (!this.out) return;
    this.update(true);
    this.out.write('\n');
  }
}
