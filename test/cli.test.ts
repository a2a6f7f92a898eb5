/** The command line as a user runs it: help and version on stdout, exit codes, typos named, import. */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startTestEngine, type TestEngine } from './helpers/engine.js';
import { writeStudy } from './fixtures/dicom-fixtures.js';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** `sluice …` from the sources (the compiled bin is tested by test/package.test.ts). */
export function sluice(args: string[], env: NodeJS.ProcessEnv = {}, cwd?: string): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', join(process.cwd(), 'src/cli.ts'), ...args],
      { env: { ...process.env, ...env }, cwd, timeout: 60_000 },
      (err, stdout, stderr) =>
        resolve({ code: err ? ((err as unknown as { code: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-cli-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('sluice help, version and usage errors', () => {
  it('prints help on stdout with exit 0, for the program and for each command', async () => {
    for (const args of [['--help'], ['-h'], [], ['help']]) {
      const r = await sluice(args);
      expect(r.code, args.join(' ')).toBe(0);
      expect(r.stdout).toMatch(/^Sluice \d+\.\d+\.\d+: streaming DICOM ingestion engine/);
      expect(r.stdout).toMatch(/start\s+run the engine/);
      expect(r.stdout).toMatch(/import\s+send DICOM files/);
      expect(r.stderr).toBe('');
    }
    for (const command of ['start', 'lint', 'import', 'schema']) {
      const r = await sluice([command, '--help']);
      expect(r.code, command).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^usage: sluice ${command}`));
    }
    expect((await sluice(['help', 'import'])).stdout).toMatch(/^usage: sluice import/);
  });

  it('prints the version', async () => {
    const { version } = (await import('../package.json', { with: { type: 'json' } })).default;
    for (const flag of ['--version', '-v']) {
      const r = await sluice([flag]);
      expect(r).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
    }
  });

  it('names unknown options and commands with exit 2', async () => {
    const option = await sluice(['start', '--prot', '5000']);
    expect(option.code).toBe(2);
    expect(option.stderr).toMatch(/^sluice start: Unknown option '--prot'/);
    expect(option.stdout).toBe('');
    const command = await sluice(['strat']);
    expect(command.code).toBe(2);
    expect(command.stderr).toMatch(/^sluice: unknown command "strat" \(did you mean "start"\?\)/);
    const global = await sluice(['--verbose']);
    expect(global.code).toBe(2);
    expect(global.stderr).toMatch(/^sluice: unknown option "--verbose"/);
    const lint = await sluice(['lint']);
    expect(lint.code).toBe(2);
    expect(lint.stderr).toMatch(/^sluice lint: name at least one pipeline file/);
  });

  it('refuses a misspelt SLUICE_* variable at start with the nearest name, before anything runs', async () => {
    const r = await sluice(['start'], { SLUICE_HTTP_PROT: '5001', SLUICE_DATA_DIR: join(dir, 'never') });
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(
      'unknown environment variable SLUICE_HTTP_PROT (did you mean "SLUICE_HTTP_PORT"?)',
    );
  });

  it('refuses a configuration file with a misspelt key, at its position', async () => {
    const file = join(dir, 'sluice.yaml');
    await writeFile(file, 'http_port: 5001\nae_titel: X\n');
    const r = await sluice(['start', '--config', file]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(`${file}:2:1 ae_titel: unknown key "ae_titel" (did you mean "ae_title"?)`);
  });

  it('suggests the nearest key in lint', async () => {
    const file = join(dir, 'typo.yaml');
    await writeFile(
      file,
      'name: typo\nsources:\n  - type: dicom_scp\n    ae_titel: X\nsinks:\n  - type: storage\n',
    );
    const r = await sluice(['lint', file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `${file}:4:5 sources[0].ae_titel: unknown key "ae_titel" (did you mean "ae_title"?)`,
    );
  });
});

describe('sluice import', () => {
  let engine: TestEngine;
  beforeAll(async () => {
    engine = await startTestEngine();
  });
  afterAll(async () => engine?.cleanup());

  it('sends a folder into the running engine and prints a summary; a second run finds them stored', async () => {
    const study = await writeStudy(join(dir, 'import', 'study'), { series: 2, instancesPerSeries: 3 });
    await writeFile(join(dir, 'import', 'README.txt'), 'not DICOM');
    const args = [
      'import',
      join(dir, 'import'),
      '--url',
      engine.url(''),
      '-u',
      'admin',
      '-p',
      'secret',
      '-j',
      '2',
    ];
    const first = await sluice(args);
    expect(first.stderr).toBe(''); // not a terminal: no progress bar
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(
      /^imported 6 file\(s\), [\d.]+ MB in \d+s \([\d.]+ MB\/s\): 6 new, 0 already stored, 0 refused, 0 failed; 1 file\(s\) skipped \(not DICOM Part-10\)\n$/,
    );
    for (const sop of study.sopInstanceUids) expect(await engine.imagesBySop(sop)).toHaveLength(1);
    const again = await sluice(args);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('0 new, 6 already stored');
  });

  it('imports with --local into the configured data directory without a running engine', async () => {
    const study = await writeStudy(join(dir, 'local-files'), { series: 1, instancesPerSeries: 2 });
    const dataDir = join(dir, 'local-data');
    const r = await sluice(['import', '--local', join(dir, 'local-files')], {
      SLUICE_DATA_DIR: dataDir,
      SLUICE_ADMIN_PASSWORD: 'local-secret',
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('2 new, 0 already stored, 0 refused, 0 failed');
    const { openSqliteIndex } = await import('../src/storage/sqlite-index.js');
    const index = openSqliteIndex(join(dataDir, 'index.sqlite'));
    try {
      expect((await index.counts()).images).toBe(2);
      const images = await Promise.all(study.sopInstanceUids.map((uid) => index.imageBySopInstanceUid(uid)));
      expect(images.every((image) => image !== undefined)).toBe(true);
    } finally {
      await index.close();
    }
  });

  it('fails with exit 1 naming the refused file, wrong credentials, or an engine that is not there', async () => {
    const bad = join(dir, 'bad');
    const truncated = Buffer.alloc(200);
    truncated.write('DICM', 128, 'latin1');
    await writeStudy(bad, { series: 1, instancesPerSeries: 1 });
    await writeFile(join(bad, 'truncated.dcm'), truncated);
    const refused = await sluice(['import', bad, '--url', engine.url(''), '-p', 'secret']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/truncated\.dcm: 400 /);
    expect(refused.stdout).toContain('1 new, 0 already stored, 1 refused, 0 failed');

    const wrong = await sluice(['import', bad, '--url', engine.url(''), '-p', 'wrong']);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain(`refused the credentials of "admin" (401`);

    const closed = `http://127.0.0.1:${await freePort()}`;
    const nobody = await sluice(['import', bad, '--url', closed]);
    expect(nobody.code).toBe(1);
    expect(nobody.stderr).toContain(`no engine answers at ${closed}`);

    const missing = await sluice(['import', join(dir, 'nothing-here')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr.trim()).toBe(`import: ${join(dir, 'nothing-here')}: no such file or folder`);
  });
});
