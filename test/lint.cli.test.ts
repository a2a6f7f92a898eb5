/** `sluice lint` as a user runs it: pipelines whose order cannot work are refused with the missing fact. */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-lint-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

async function lint(...files: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [
      '--import',
      'tsx',
      'src/cli.ts',
      'lint',
      ...files,
    ]);
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('sluice lint', () => {
  it('refuses dicom_forward before storage and forward without index, and passes the shipped files', async () => {
    const early = join(dir, 'early.yaml');
    await writeFile(
      early,
      'name: early\nsources:\n  - type: dicom_scp\nsinks:\n  - type: dicom_forward\n    ae_title: PACS\n    host: 127.0.0.1\n    port: 104\n  - type: storage\n  - type: index\n',
    );
    const noIndex = join(dir, 'no-index.yaml');
    await writeFile(
      noIndex,
      'name: noindex\nsources:\n  - type: http_upload\nsinks:\n  - type: storage\n  - type: forward\n',
    );
    const result = await lint(early, noIndex, 'pipelines/default.yaml');
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      `${early}:5:11 sinks[0]: dicom_forward requires the fact "stored", which no earlier component provides: move it after storage (sinks[1])`,
    );
    expect(result.stderr).toContain(
      `${noIndex}:6:11 sinks[1]: forward requires the fact "indexed", which no earlier component provides: add \`index\` before it`,
    );
    expect(result.stdout).toContain('pipelines/default.yaml: ok');
  });
});
