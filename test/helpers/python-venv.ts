/**
 * Python tools for tests, each in a virtual environment of its own under the temp directory (never
 * installed system-wide: pynetdicom there would shadow DCMTK's findscu, storescu… of the same names).
 * Made once and reused; needs python3-venv and PyPI (set SLUICE_SKIP_PYPI=1 where PyPI is unreachable).
 */
import { execFile } from 'node:child_process';
import { access, mkdtemp, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function run(
  cmd: string,
  args: string[],
  timeoutMs: number,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) =>
      resolve({ code: err ? 1 : 0, stdout, stderr }),
    );
  });
}

/** The python of a venv holding `requirements` (pip specifiers), made on first use. */
export async function pythonWith(name: string, requirements: string[]): Promise<string> {
  const dir = join(tmpdir(), `sluice-venv-${name}`);
  const python = join(dir, 'bin', 'python');
  if (
    await access(python).then(
      () => true,
      () => false,
    )
  )
    return python;
  // Made beside and moved into place, so that a half-made venv is never taken for a finished one (only
  // `python -m` is used, which a moved venv keeps working for).
  const staging = await mkdtemp(join(tmpdir(), `sluice-venv-${name}-`));
  try {
    const venv = await run('python3', ['-m', 'venv', staging], 120_000);
    if (venv.code)
      throw new Error(`python3 -m venv failed (is python3-venv installed?): ${venv.stderr.slice(-500)}`);
    const pip = await run(
      join(staging, 'bin', 'python'),
      ['-m', 'pip', 'install', '-q', ...requirements],
      600_000,
    );
    if (pip.code)
      throw new Error(
        `pip install ${requirements.join(' ')} failed (is PyPI reachable? SLUICE_SKIP_PYPI=1 skips these tests): ${pip.stderr.slice(-800)}`,
      );
    await rename(staging, dir).catch(() => undefined); // another run finished first: keep its venv
    return python;
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}
