/**
 * The web UI in a real browser (Debian chromium through playwright-core) against a real engine with real
 * data: DCMTK storescu sends a study first, a DCMTK storescp receives what the UI sends and forwards.
 * Screenshots go to test-artifacts/ui/.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { freePort, startTestEngine, type TestEngine } from './helpers/engine.js';
import { dcmtk } from './helpers/dcmtk.js';
import { eventually, startStorescp, type RunningStorescp } from './helpers/peers.js';
import { makeInstance } from './fixtures/dicom-fixtures.js';
import { writePhantomStudy } from './fixtures/phantom.js';
import {
  chromiumPath,
  ensureUiBuilt,
  launch,
  screenshot,
  seriousViolations,
  watchConsole,
} from './helpers/browser.js';

const haveChromium = !!chromiumPath();
let engine: TestEngine;
let storescp: RunningStorescp;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let dir: string;
let consoleErrors: string[];

/** Failed requests the UI makes on purpose and explains: not logged in yet, a refused upload. */
const expectedFailure = (url: string, text: string) =>
  text.startsWith('Failed to load resource') &&
  (/\/api\/users\/current$/.test(url) || /\/api\/images$/.test(url));

async function login(p: Page, base: string) {
  await p.goto(base);
  await p.getByLabel(/^User name/).fill('admin');
  await p.getByLabel(/^Password/).fill('secret');
  await p.getByRole('button', { name: 'Log in' }).click();
  await p.getByRole('heading', { name: 'Patients' }).waitFor();
}

async function expectAccessible(p: Page) {
  await p.waitForTimeout(400); // let notifications and modals finish their transitions
  expect(await seriousViolations(p)).toEqual([]);
}

// Skipped only outside CI on a machine without chromium; CI installs it (.ci/run) and must run these.
describe.skipIf(!haveChromium && !process.env.CI)('web UI in a browser', () => {
  beforeAll(async () => {
    await ensureUiBuilt();
    dir = await mkdtemp(join(tmpdir(), 'sluice-ui-test-'));
    engine = await startTestEngine({ forwarding: { quietMs: 200, retryBaseMs: 200 } });
    storescp = await startStorescp(dir);
    const files = await writePhantomStudy(join(dir, 'study'), {
      patientName: 'Browser^Alice',
      patientId: 'UI-0001',
      studyDescription: 'Head CT',
      series: [
        { description: 'Axial 5 mm', slices: 4 },
        { description: 'Axial 2 mm', slices: 3 },
      ],
    });
    const sent = await dcmtk('storescu', ['-aec', 'SLUICE', '127.0.0.1', String(engine.dicomPort), ...files]);
    expect(sent.code, sent.stderr).toBe(0);
    browser = await launch();
    context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    consoleErrors = watchConsole(context, expectedFailure);
    page = await context.newPage();
    page.setDefaultTimeout(20_000);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await storescp?.stop();
    await engine?.cleanup();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('logs in and finds the patient that storescu sent', async () => {
    await login(page, engine.url('/'));
    await page.getByLabel('Patient name').fill('alice');
    await page.getByRole('button', { name: 'Search' }).click();
    const link = page.getByRole('link', { name: 'Browser, Alice' });
    await link.waitFor();
    await expectAccessible(page);
    await screenshot(page, '01-patients');
    await link.click();
    await page.getByRole('heading', { name: 'Browser, Alice' }).waitFor();
    await page.getByRole('link', { name: 'Head CT' }).click();
    await page.getByRole('heading', { name: 'Head CT' }).waitFor();
    await page.waitForFunction(() => {
      const thumbs = [...document.querySelectorAll<HTMLImageElement>('img.thumb')];
      return thumbs.length > 0 && thumbs.every((i) => i.complete && i.naturalWidth > 0);
    });
    await expectAccessible(page);
    await screenshot(page, '02-study');
  });

  it('opens a series and steps through its images in the viewer', async () => {
    await page.getByRole('link', { name: 'Axial 5 mm' }).first().click();
    const viewer = page.getByTestId('viewer');
    await viewer.locator('img[data-loaded="true"]').waitFor();
    await expect.poll(() => viewer.getAttribute('aria-label')).toContain('Image 1 of 4');
    await viewer.focus();
    await page.keyboard.press('ArrowDown');
    await expect.poll(() => viewer.getAttribute('aria-label')).toContain('Image 2 of 4');
    await viewer.locator('img[data-loaded="true"]').waitFor();
    await page.getByRole('button', { name: 'Next image' }).click();
    await expect.poll(() => viewer.getAttribute('aria-label')).toContain('Image 3 of 4');
    await viewer.locator('img[data-loaded="true"]').waitFor();
    // Window/level by preset, then by dragging.
    await page.getByRole('combobox', { name: 'Window preset' }).click();
    await page.getByRole('option', { name: 'Full range' }).click();
    const box = (await viewer.boundingBox())!;
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width / 2 + 60, box.y + box.height / 2 + 20);
    await page.mouse.up();
    await expect
      .poll(() => page.getByRole('combobox', { name: 'Window preset' }).inputValue())
      .toBe('Custom (dragged)');
    await viewer.locator('img[data-loaded="true"]').waitFor();
    await expectAccessible(page);
    await page.getByRole('combobox', { name: 'Window preset' }).click();
    await page.getByRole('option', { name: 'Brain (CT)' }).click();
    await viewer.locator('img[data-loaded="true"][src*="windowmin=0&windowmax=80"]').waitFor();
    await page.evaluate(() => window.scrollTo(0, 0));
    await screenshot(page, '03-viewer');
    await page.getByRole('tab', { name: 'Attributes' }).click();
    await page.getByLabel('Search attributes').fill('PatientName');
    await page.getByRole('cell', { name: 'Browser^Alice' }).waitFor();
    await screenshot(page, '04-attributes');
  });

  it('uploads two files with the file chooser and shows them', async () => {
    const files = [1, 2].map((n) => ({
      name: `upload-${n}.dcm`,
      mimeType: 'application/dicom',
      buffer: makeInstance({
        patientName: 'Upload^Bob',
        patientId: 'UI-0002',
        studyDescription: 'Uploaded study',
        instanceNumber: n,
      }),
    }));
    await page.getByRole('link', { name: 'Upload', exact: true }).click();
    await page.getByRole('heading', { name: 'Upload' }).waitFor();
    await page.getByTestId('file-input').setInputFiles(files);
    const results = page.getByRole('table', { name: 'Upload results' });
    await expect.poll(() => results.locator('tr[data-state="stored"]').count()).toBe(2);
    await expectAccessible(page);
    await screenshot(page, '05-upload');
    await page.getByRole('link', { name: 'Patients', exact: true }).click();
    await page.getByRole('button', { name: 'Clear' }).click();
    await page.getByRole('link', { name: 'Upload, Bob' }).waitFor();
  });

  it('shows a refused upload with its reason, and the quarantined file with the same reason', async () => {
    await page.getByRole('link', { name: 'Upload', exact: true }).click();
    await page
      .getByTestId('file-input')
      .setInputFiles([
        { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('not a DICOM file at all') },
      ]);
    const refused = page.locator('tr[data-state="refused"]');
    await refused.waitFor();
    const reason = 'not a DICOM Part-10 file';
    expect(await refused.innerText()).toContain(reason);
    await page.getByRole('link', { name: 'Quarantine' }).first().click();
    await page.getByRole('heading', { name: 'Quarantine' }).waitFor();
    const row = page.getByRole('row').filter({ hasText: 'notes.txt' });
    await row.waitFor();
    expect(await row.innerText()).toContain(reason);
    await expectAccessible(page);
    await screenshot(page, '06-quarantine');
  });

  it('creates an SCP and an SCU, echoes the SCU and sends a series to it', async () => {
    const scpPort = await freePort();
    await page.getByRole('link', { name: 'SCPs (receive)' }).click();
    const scpForm = page.getByRole('form', { name: 'Add scp' });
    await scpForm.getByLabel(/^Name/).fill('ui-scp');
    await scpForm.getByLabel(/^AE title/).fill('UISCP');
    await scpForm.getByLabel(/^Port/).fill(String(scpPort));
    // This one receives only: Query/Retrieve (on by default) is switched off.
    await scpForm.getByLabel('Query/Retrieve').uncheck();
    await scpForm.getByRole('button', { name: 'Add' }).click();
    await page.getByRole('cell', { name: 'ui-scp', exact: true }).waitFor();
    const echo = await dcmtk('echoscu', ['-aec', 'UISCP', '127.0.0.1', String(scpPort)]);
    expect(echo.code, echo.stderr).toBe(0);
    const created = ((await (await engine.api('/api/scps')).json()) as Array<Record<string, unknown>>).find(
      (s) => s.name === 'ui-scp',
    );
    expect(created).toMatchObject({ aeTitle: 'UISCP', port: scpPort, queryRetrieve: false });

    await page.getByRole('link', { name: 'SCUs (send)' }).click();
    const scuForm = page.getByRole('form', { name: 'Add scu' });
    await scuForm.getByLabel(/^Name/).fill('archive');
    await scuForm.getByLabel(/^AE title/).fill(storescp.aeTitle);
    await scuForm.getByLabel(/^Host/).fill('127.0.0.1');
    await scuForm.getByLabel(/^Port/).fill(String(storescp.port));
    await scuForm.getByRole('button', { name: 'Add' }).click();
    await page.getByRole('cell', { name: 'archive', exact: true }).waitFor();
    await page.getByRole('button', { name: 'Echo archive' }).click();
    await page.getByText('answered the C-ECHO').waitFor();
    await expectAccessible(page);
    await screenshot(page, '07-scus');

    await page.getByRole('link', { name: 'Series', exact: true }).click();
    await page.getByRole('link', { name: 'Axial 2 mm' }).first().click();
    await page.getByTestId('viewer').locator('img[data-loaded="true"]').waitFor();
    await page
      .getByRole('toolbar', { name: /selected series/ })
      .first()
      .getByRole('button', { name: 'Send…' })
      .click();
    const dialog = page.getByRole('dialog');
    await dialog.getByRole('combobox', { name: 'Destination' }).click();
    await page.getByRole('option', { name: 'archive' }).click();
    await dialog.getByRole('button', { name: 'Send' }).click();
    await page.getByText('stored by the SCU').waitFor();
    await eventually(
      'storescp to hold the 3 sent instances',
      async () => (await storescp.sopInstanceUids()).length >= 3,
    );
  });

  it('forwards what a new SCP receives to the SCU through a rule made in the UI', async () => {
    await page.getByRole('link', { name: 'Forwarding' }).click();
    const form = page.getByRole('form', { name: 'Add forwarding rule' });
    await form.getByRole('combobox', { name: 'From source' }).click();
    await page.getByRole('option', { name: /^ui-scp/ }).click();
    await form.getByRole('combobox', { name: 'To destination' }).click();
    await page.getByRole('option', { name: /^archive/ }).click();
    await form.getByRole('button', { name: 'Add' }).click();
    await page
      .getByRole('table', { name: 'Forwarding rules' })
      .getByRole('cell', { name: /ui-scp/ })
      .waitFor();
    const before = (await storescp.sopInstanceUids()).length;
    const scps = (await (await engine.api('/api/scps')).json()) as Array<{ port: number }>;
    const forwarded = join(dir, 'forwarded.dcm');
    await writeFile(forwarded, makeInstance({ patientName: 'Forward^Carol', patientId: 'UI-0003' }));
    const sent = await dcmtk('storescu', ['-aec', 'UISCP', '127.0.0.1', String(scps[0]!.port), forwarded]);
    expect(sent.code, sent.stderr).toBe(0);
    await eventually(
      'storescp to receive the forwarded instance',
      async () => (await storescp.sopInstanceUids()).length > before,
    );
    await page.getByText('All', { exact: true }).click();
    await expectAccessible(page);
    await screenshot(page, '08-forwarding');
  });

  it('anonymizes a study and shows the new, anonymous patient', async () => {
    await page.getByRole('link', { name: 'Patients', exact: true }).click();
    await page.getByRole('link', { name: 'Browser, Alice' }).click();
    await page.getByRole('link', { name: 'Head CT' }).click();
    await page.getByRole('heading', { name: 'Head CT' }).waitFor();
    await page
      .getByRole('toolbar', { name: /selected studies/ })
      .first()
      .getByRole('button', { name: 'Anonymize…' })
      .click();
    const dialog = page.getByRole('dialog');
    await dialog.getByRole('checkbox', { name: 'Retain Longitudinal With Full Dates' }).check();
    await dialog.getByLabel('Patient name').fill('Research^Subject01');
    await screenshot(page, '09-anonymize-dialog');
    await dialog.getByRole('button', { name: 'Anonymize' }).click();
    await page.getByRole('heading', { name: 'Research, Subject01' }).waitFor();
    await expectAccessible(page);
    await screenshot(page, '10-anonymized-patient');
  });

  it('exports a patient as a zip, then deletes the patient after asking', async () => {
    await page
      .getByRole('navigation', { name: 'Main' })
      .getByRole('link', { name: 'Patients', exact: true })
      .click();
    await page.getByRole('link', { name: 'Upload, Bob' }).click();
    await page.getByRole('heading', { name: 'Upload, Bob' }).waitFor();
    const toolbar = page.getByRole('toolbar', { name: /selected patients/ }).first();
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      toolbar.getByRole('button', { name: 'Export zip' }).click(),
    ]);
    const zip = await download.path();
    expect(zip).toBeTruthy();
    const { size } = await import('node:fs/promises').then((fs) => fs.stat(zip!));
    expect(size).toBeGreaterThan(1000);
    await toolbar.getByRole('button', { name: 'Delete' }).click();
    const confirm = page.getByRole('dialog', { name: 'Delete 1 patient?' });
    await confirm.getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('heading', { name: 'Patients' }).waitFor();
    await page.getByText('Deleted 2 images.').waitFor();
    await expect.poll(() => page.getByRole('link', { name: 'Upload, Bob' }).count()).toBe(0);
  });

  it('browses on a 390-px-wide phone screen', async () => {
    const phone = await browser.newContext({
      viewport: { width: 390, height: 844 },
      isMobile: true,
      hasTouch: true,
    });
    const errors = watchConsole(phone, expectedFailure);
    const p = await phone.newPage();
    await login(p, engine.url('/'));
    await p.getByRole('link', { name: 'Forward, Carol' }).waitFor();
    expect(await p.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await screenshot(p, '11-phone-patients');
    await p.getByRole('button', { name: 'Open navigation' }).click();
    await p.getByRole('link', { name: 'Series', exact: true }).click();
    await p.getByRole('heading', { name: 'Series', exact: true }).waitFor();
    await expectAccessible(p);
    await phone.close();
    expect(errors).toEqual([]);
  });

  it('logs out, and wrote no errors to the console on the way', async () => {
    await page.getByRole('button', { name: /^Account/ }).click();
    await page.getByRole('menuitem', { name: 'Log out' }).click();
    await page.getByRole('button', { name: 'Log in' }).waitFor();
    expect((await engine.api('/api/users/current', { headers: { Authorization: '' } })).status).toBe(404);
    await screenshot(page, '12-logged-out');
    expect(consoleErrors).toEqual([]);
  });
});
