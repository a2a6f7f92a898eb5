/**
 * Vitest's global set-up: what the suite needs from the machine, so that `npm test` is all a newcomer
 * types. The integration tests drive DCMTK (storescu, storescp, dcmdump…), Orthanc, dicom3tools' dciodvfy,
 * unzip and pydicom's real test files, the ClickHouse index tests run Debian's clickhouse-server, and the
 * package test compiles better-sqlite3 (g++, make, python3).
 * What is missing is installed with apt-get when this is a Debian machine and we are root (as CI and the
 * project's machines are); otherwise the run stops at once with the command to type. The peers themselves
 * (storescp, Orthanc, chromium for the web UI's browser tests) are started by the tests that need them, on free loopback ports, and stopped after.
 * `TEST_SETUP_NO_INSTALL=1` only checks.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

interface Requirement {
  /** A command on PATH, an absolute path that must exist, or (with `check`) what the check proves. */
  needs: string;
  /** A shell command that succeeds when the requirement is met (instead of looking for `needs`). */
  check?: string;
  debianPackage: string;
  why: string;
}

const REQUIREMENTS: Requirement[] = [
  { needs: 'storescu', debianPackage: 'dcmtk', why: 'DICOM peers for the integration tests' },
  { needs: 'storescp', debianPackage: 'dcmtk', why: 'DICOM peers for the integration tests' },
  { needs: 'dcmdump', debianPackage: 'dcmtk', why: 'reading what we wrote' },
  { needs: 'Orthanc', debianPackage: 'orthanc', why: 'a second DICOM peer' },
  { needs: 'dciodvfy', debianPackage: 'dicom3tools', why: 'IOD validation of generated instances' },
  { needs: 'unzip', debianPackage: 'unzip', why: 'checking zip exports' },
  {
    needs: '/usr/lib/python3/dist-packages/pydicom/data/test_files',
    debianPackage: 'python3-pydicom',
    why: 'real files in many transfer syntaxes for rendering and decompression',
  },
  {
    needs: 'python3 -m venv',
    check: "python3 -c 'import ensurepip'",
    debianPackage: 'python3-venv',
    why: 'the DICOMweb test runs dicomweb-client (PyPI) in a virtual environment',
  },
  { needs: 'chromium', debianPackage: 'chromium', why: "the web UI's browser tests (playwright-core)" },
  {
    needs: '/usr/share/fonts/truetype/dejavu',
    debianPackage: 'fonts-dejavu-core',
    why: "readable text in the web UI's screenshots",
  },
  {
    needs: '/usr/sbin/clickhouse-server',
    debianPackage: 'clickhouse-server',
    why: 'the ClickHouse index tests (ClickHouse 18.16, started by test/clickhouse-setup.ts)',
  },
  {
    needs: '/usr/lib/postgresql',
    debianPackage: 'postgresql',
    why: 'the PostgreSQL state store tests (started by test/postgres-setup.ts)',
  },
  { needs: 'g++', debianPackage: 'g++', why: 'the package test compiles better-sqlite3' },
  { needs: 'make', debianPackage: 'make', why: 'the package test compiles better-sqlite3' },
  { needs: 'python3', debianPackage: 'python3', why: 'the package test compiles better-sqlite3' },
];

const present = (needs: string) =>
  needs.startsWith('/')
    ? existsSync(needs)
    : spawnSync('/bin/sh', ['-c', `command -v "${needs}"`]).status === 0;

const met = (r: Requirement) =>
  r.check ? spawnSync('/bin/sh', ['-c', `${r.check} >/dev/null 2>&1`]).status === 0 : present(r.needs);

export function missingRequirements(): Requirement[] {
  return REQUIREMENTS.filter((r) => !met(r));
}

function canInstall(): boolean {
  return (
    process.platform === 'linux' &&
    process.getuid?.() === 0 &&
    existsSync('/etc/debian_version') &&
    present('apt-get') &&
    process.env.TEST_SETUP_NO_INSTALL !== '1'
  );
}

export default function setup(): void {
  let missing = missingRequirements();
  if (!missing.length) return;
  const packages = [...new Set(missing.map((r) => r.debianPackage))];
  if (canInstall()) {
    process.stderr.write(
      `test set-up: installing ${packages.join(' ')} (${missing.map((r) => r.needs).join(', ')} missing)\n`,
    );
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
    execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...packages], {
      stdio: 'inherit',
      env,
    });
    missing = missingRequirements();
    if (!missing.length) return;
  }
  throw new Error(
    `The tests need programs this machine lacks:\n${missing
      .map((r) => `  ${r.needs} (Debian package ${r.debianPackage}): ${r.why}`)
      .join(
        '\n',
      )}\nOn Debian or Ubuntu, as root: apt-get install ${[...new Set(missing.map((r) => r.debianPackage))].join(' ')}`,
  );
}
