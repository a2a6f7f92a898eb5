/** The suite's own set-up (test/global-setup.ts): it finds what this machine has, and names what it lacks. */
import { afterEach, describe, expect, it } from 'vitest';
import setup, { missingRequirements } from './global-setup.js';

const saved = { PATH: process.env.PATH, TEST_SETUP_NO_INSTALL: process.env.TEST_SETUP_NO_INSTALL };
afterEach(() => {
  process.env.PATH = saved.PATH;
  if (saved.TEST_SETUP_NO_INSTALL === undefined) delete process.env.TEST_SETUP_NO_INSTALL;
  else process.env.TEST_SETUP_NO_INSTALL = saved.TEST_SETUP_NO_INSTALL;
});

describe('test set-up', () => {
  it('finds everything the suite needs on this machine (installed by it on a fresh one)', () => {
    expect(missingRequirements()).toEqual([]);
    expect(() => setup()).not.toThrow();
  });

  it('names each missing program with its Debian package and the command to type', () => {
    process.env.PATH = '/nonexistent';
    process.env.TEST_SETUP_NO_INSTALL = '1';
    expect(missingRequirements().map((r) => r.needs)).toContain('storescu');
    expect(() => setup()).toThrow(
      /storescu \(Debian package dcmtk\): DICOM peers[\s\S]*apt-get install dcmtk orthanc dicom3tools unzip python3-venv chromium g\+\+ make python3$/,
    );
  });
});
