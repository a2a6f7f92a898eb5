/**
 * A real browser for the UI tests: Debian's `chromium` driven by playwright-core (no browser download),
 * headless, with a console watcher, an accessibility check (axe-core) and screenshots into test-artifacts/ui.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type ConsoleMessage, type Page } from 'playwright-core';
import { UI_DIR } from '../../src/ui/server.js';

export const ARTIFACTS = join(process.cwd(), 'test-artifacts', 'ui');

const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];

export function chromiumPath(): string | undefined {
  return process.env.SLUICE_CHROMIUM ?? CANDIDATES.find((p) => existsSync(p));
}

/** Builds the UI when `npm install` has not (a checkout where the prepare step did not run). */
export async function ensureUiBuilt(): Promise<void> {
  if (existsSync(join(UI_DIR, 'index.html'))) return;
  const vite = await import('vite');
  await vite.build({ configFile: join(process.cwd(), 'src/ui/vite.config.ts'), logLevel: 'warn' });
}

export async function launch(): Promise<Browser> {
  const executablePath = chromiumPath();
  if (!executablePath)
    throw new Error('no chromium found: apt-get install chromium (or set SLUICE_CHROMIUM)');
  return chromium.launch({
    executablePath,
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
  });
}

/**
 * Every console error and uncaught page error of a context. Failed requests whose error the UI shows on
 * purpose (the 404 of `GET /api/users/current` before login, an upload refused with 400) are passed by
 * `expected`; anything else ends up in `errors`.
 */
export function watchConsole(context: BrowserContext, expected: (url: string, text: string) => boolean) {
  const errors: string[] = [];
  const onConsole = (msg: ConsoleMessage) => {
    if (msg.type() !== 'error') return;
    const url = msg.location().url ?? '';
    if (expected(url, msg.text())) return;
    errors.push(`${msg.text()} (${url})`);
  };
  context.on('page', (page) => {
    page.on('console', onConsole);
    page.on('pageerror', (err) => errors.push(`page error: ${err.message}`));
  });
  return errors;
}

let axeSource: string | undefined;

/** Violations of WCAG 2 A/AA rules with a serious or critical impact on the page as it is now. */
export async function seriousViolations(page: Page): Promise<string[]> {
  axeSource ??= await readFile(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
  await page.evaluate(axeSource);
  const result = await page.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: { run: (ctx: unknown, opts: unknown) => Promise<unknown> } })
      .axe;
    return (await axe.run(document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] },
    })) as {
      violations: Array<{
        id: string;
        impact: string;
        help: string;
        nodes: Array<{ target: string[]; failureSummary?: string }>;
      }>;
    };
  });
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map(
      (v) =>
        `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => `${n.target.join(' ')} (${(n.failureSummary ?? '').replace(/\s+/g, ' ').slice(0, 200)})`).join(', ')}`,
    );
}

export async function screenshot(page: Page, name: string): Promise<void> {
  await mkdir(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: false });
}
