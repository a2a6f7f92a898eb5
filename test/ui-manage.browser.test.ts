/**
 * The UI's management pages in a real browser against a real engine: keyboard login, a box connection made
 * and used from the UI (the engine connects to itself), series types, tag filters, import sessions, users, and
 * a USER who sees read-only pages. Every page gets an accessibility check; screenshots go to test-artifacts/ui/.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { startTestEngine, type TestEngine } from './helpers/engine.js';
import { dcmtk } from './helpers/dcmtk.js';
import { makeInstance, writeStudy } from './fixtures/dicom-fixtures.js';
import {
  chromiumPath,
  ensureUiBuilt,
  launch,
  screenshot,
  seriousViolations,
  watchConsole,
} from './helpers/browser.js';

let engine: TestEngine;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let dir: string;
let consoleErrors: string[];

const expectedFailure = (url: string, text: string) =>
  text.startsWith('Failed to load resource') && /\/api\/users\/current$/.test(url);

async function expectAccessible(p: Page) {
  await p.waitForTimeout(400); // let notifications and modals finish their transitions
  expect(await seriousViolations(p)).toEqual([]);
}

async function open(p: Page, link: string, heading = link) {
  await p.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: link, exact: true }).click();
  await p.getByRole('heading', { name: heading, exact: true }).waitFor();
}

// Skipped only outside CI on a machine without chromium; CI installs it (.ci/run) and must run these.
describe.skipIf(!chromiumPath() && !process.env.CI)('web UI management pages in a browser', () => {
  beforeAll(async () => {
    await ensureUiBuilt();
    dir = await mkdtemp(join(tmpdir(), 'sluice-ui-manage-'));
    engine = await startTestEngine({ boxes: { pollIntervalMs: 300, retryBaseMs: 200 } });
    const study = await writeStudy(join(dir, 'study'), {
      patientName: 'Manage^Dana',
      patientId: 'UI-0100',
      studyDescription: 'Brain MR',
      modality: 'MR',
      series: 1,
      instancesPerSeries: 2,
    });
    const sent = await dcmtk('storescu', [
      '-aec',
      'SLUICE',
      '127.0.0.1',
      String(engine.dicomPort),
      ...study.files,
    ]);
    expect(sent.code, sent.stderr).toBe(0);
    browser = await launch();
    context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    consoleErrors = watchConsole(context, expectedFailure);
    page = await context.newPage();
    page.setDefaultTimeout(20_000);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await engine?.cleanup();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('logs in with the keyboard alone', async () => {
    await page.goto(engine.url('/'));
    // The user name field has the focus once the page knows nobody is logged in.
    await expect
      .poll(() => page.evaluate(() => document.activeElement?.getAttribute('autocomplete')))
      .toBe('username');
    await page.keyboard.type('admin');
    await page.keyboard.press('Tab');
    await page.keyboard.type('secret');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Patients' }).waitFor();
    // The first Tab reaches the skip link, which jumps over the navigation.
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Skip to the page');
  });

  it('connects a box from the UI and sends a series through it, with the transactions and keys to see', async () => {
    await open(page, 'Boxes');
    await page.getByRole('button', { name: 'Create connection…' }).click();
    let dialog = page.getByRole('dialog');
    await dialog.getByLabel(/^Name of the other side/).fill('hospital-b');
    await dialog.getByRole('button', { name: 'Create' }).click();
    const url = (
      await page.getByRole('dialog', { name: 'Connection created' }).locator('.mono').innerText()
    ).trim();
    expect(url).toMatch(/\/api\/transactions\/[0-9a-f-]{36}$/);
    await page
      .getByRole('dialog', { name: 'Connection created' })
      .getByRole('button', { name: 'Close' })
      .click();
    await page.getByRole('button', { name: 'Connect with a URL…' }).click();
    dialog = page.getByRole('dialog');
    await dialog.getByLabel(/^Name of the other side/).fill('hospital-a');
    await dialog.getByLabel(/^URL/).fill(url);
    await dialog.getByRole('button', { name: 'Connect' }).click();
    const boxes = page.getByRole('table', { name: 'Boxes' });
    await boxes.getByRole('cell', { name: 'hospital-a', exact: true }).waitFor();
    await boxes.getByRole('row').filter({ hasText: 'hospital-a' }).getByText('online').waitFor();

    await open(page, 'Series');
    await page.getByRole('link', { name: 'Series 1' }).click();
    await page
      .getByRole('toolbar', { name: /selected series/ })
      .first()
      .getByRole('button', { name: 'Send…' })
      .click();
    dialog = page.getByRole('dialog');
    await dialog.getByRole('combobox', { name: 'Destination' }).click();
    await page.getByRole('option', { name: 'hospital-a' }).click();
    await dialog.getByRole('checkbox', { name: 'Retain Longitudinal With Full Dates' }).check();
    await dialog.getByRole('button', { name: 'Send' }).click();
    await page.getByText('queued for the box').waitFor();

    await open(page, 'Boxes');
    const outgoing = page.getByRole('table', { name: 'Outgoing transactions' });
    await outgoing.getByText('finished').waitFor({ timeout: 30_000 });
    await page.getByRole('tab', { name: 'Incoming' }).click();
    await page
      .getByRole('table', { name: 'Incoming transactions' })
      .getByText('finished')
      .waitFor({ timeout: 30_000 });
    await expectAccessible(page);
    await screenshot(page, '20-boxes');

    await open(page, 'Anonymization keys');
    await page.getByRole('table', { name: 'Anonymization keys' }).getByText('Manage^Dana').first().waitFor();
    await page.getByRole('button', { name: 'Values' }).first().click();
    await page.getByRole('table', { name: 'Remembered values' }).waitFor();
    await expectAccessible(page);
    await screenshot(page, '21-anonymization-keys');
  });

  it('defines a series type by a rule and finds the series by it', async () => {
    await open(page, 'Series types');
    const create = page.getByRole('form', { name: 'New series type' });
    await create.getByLabel(/^Name/).fill('MR any');
    await create.getByRole('button', { name: 'Create' }).click();
    await page.getByRole('button', { name: 'Add rule' }).click();
    const condition = page.getByRole('form', { name: 'Add a condition' });
    await condition.getByLabel(/^Keyword/).fill('Modality');
    await condition.getByLabel(/^Value/).fill('MR');
    await condition.getByRole('button', { name: 'Add' }).click();
    await page.getByRole('table', { name: 'Conditions of rule 1' }).getByText('Modality').waitFor();
    await page.getByText('All series classified').waitFor({ timeout: 30_000 });
    await expectAccessible(page);
    await screenshot(page, '22-series-types');

    await open(page, 'Series');
    await page.getByRole('button', { name: 'More filters' }).click();
    await page.getByRole('combobox', { name: 'Series types' }).click();
    await page.getByRole('option', { name: 'MR any' }).click();
    await page.keyboard.press('Escape');
    await page.getByRole('button', { name: 'Search' }).click();
    await expect
      .poll(() =>
        page.getByRole('table', { name: 'Series' }).getByRole('link', { name: 'Manage, Dana' }).count(),
      )
      .toBeGreaterThan(0);
  });

  it('makes a tag filter and applies it to a source', async () => {
    await open(page, 'Tag filters');
    const create = page.getByRole('form', { name: 'New tag filter' });
    await create.getByLabel(/^Name/).fill('no addresses');
    await create.getByRole('button', { name: 'Create' }).click();
    const add = page.getByRole('form', { name: 'Add an attribute' });
    await add.getByLabel(/^Keyword, tag or path/).fill('PatientAddress');
    await add.getByRole('button', { name: 'Add' }).click();
    await page
      .getByRole('table', { name: 'Attributes of no addresses' })
      .getByText('PatientAddress')
      .waitFor();
    const apply = page.getByRole('form', { name: 'Apply a filter to a source' });
    await apply.getByRole('combobox', { name: 'Source' }).click();
    await page.getByRole('option').first().click();
    await apply.getByRole('combobox', { name: 'Filter' }).click();
    await page.getByRole('option', { name: 'no addresses' }).click();
    await apply.getByRole('button', { name: 'Apply' }).click();
    await page.getByRole('table', { name: 'Filter associations' }).getByText('no addresses').waitFor();
    await expectAccessible(page);
  });

  it('creates an import session, uploads into it and shows its counters', async () => {
    await open(page, 'Import sessions');
    const create = page.getByRole('form', { name: 'New import session' });
    await create.getByLabel(/^Name/).fill('study-2026');
    await create.getByRole('button', { name: 'Create' }).click();
    const row = page.getByRole('row').filter({ hasText: 'study-2026' });
    await row.getByRole('button', { name: 'Upload' }).click();
    await page
      .getByRole('dialog')
      .getByTestId('file-input')
      .setInputFiles([
        {
          name: 'one.dcm',
          mimeType: 'application/dicom',
          buffer: makeInstance({ patientName: 'Import^Eve' }),
        },
      ]);
    await page.getByRole('dialog').locator('tr[data-state="stored"]').waitFor();
    await page.getByRole('dialog').getByRole('button', { name: /close/i }).first().click();
    await expect
      .poll(async () => (await row.innerText()).replace(/\s+/g, ' '))
      .toContain('study-2026 admin 1 1 0');
    await expectAccessible(page);
  });

  it('walks every other page without an accessibility problem', async () => {
    for (const [link, heading] of [
      ['SCPs (receive)', 'SCPs'],
      ['SCUs (send)', 'SCUs'],
      ['Watched directories', 'Watched directories'],
      ['Forwarding', 'Forwarding'],
      ['Quarantine', 'Quarantine'],
      ['Log', 'Log'],
      ['Pipelines', 'Pipelines'],
      ['System', 'System'],
      ['Upload', 'Upload'],
    ] as const) {
      await open(page, link, heading);
      await expectAccessible(page);
    }
    await open(page, 'Pipelines');
    await screenshot(page, '23-pipelines');
    await open(page, 'Log');
    await screenshot(page, '24-log');
  });

  it('gives a USER read-only configuration and no admin actions', async () => {
    await open(page, 'Users');
    const create = page.getByRole('form', { name: 'Add user' });
    await create.getByLabel(/^User name/).fill('reader');
    await create.getByLabel(/^Password/).fill('reader-password');
    await create.getByRole('button', { name: 'Add' }).click();
    await page.getByRole('cell', { name: 'reader', exact: true }).waitFor();

    const readerContext = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const errors = watchConsole(readerContext, expectedFailure);
    const p = await readerContext.newPage();
    await p.goto(engine.url('/'));
    await p.getByLabel(/^User name/).fill('reader');
    await p.getByLabel(/^Password/).fill('reader-password');
    await p.getByRole('button', { name: 'Log in' }).click();
    await p.getByRole('heading', { name: 'Patients' }).waitFor();
    await p.getByRole('link', { name: 'Manage, Dana' }).waitFor();
    const actions = p.getByRole('toolbar').first();
    expect(await actions.getByRole('button', { name: 'Export zip' }).count()).toBe(1);
    for (const name of ['Delete', 'Anonymize…', 'Send…'])
      expect(await actions.getByRole('button', { name }).count()).toBe(0);
    expect(await p.getByRole('link', { name: 'Users', exact: true }).count()).toBe(0);
    await open(p, 'SCUs (send)', 'SCUs');
    expect(await p.getByRole('form').count()).toBe(0);
    await open(p, 'Boxes');
    expect(await p.getByRole('button', { name: /Delete/ }).count()).toBe(0);
    expect(await p.getByRole('button', { name: 'Create connection…' }).count()).toBe(0);
    await expectAccessible(p);
    await readerContext.close();
    expect(errors).toEqual([]);
    expect(consoleErrors).toEqual([]);
  });
});
