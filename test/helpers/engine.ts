import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EngineConfig } from '../../src/config.js';
import { startSluice, type Running } from '../../src/main.js';
import { testS3Location } from './blobs.js';
import { testIndexUrl } from './index-engines.js';
import { testStateUrl } from './state-engines.js';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export const AUTH = { Authorization: `Basic ${Buffer.from('admin:secret').toString('base64')}` };

export interface TestEngine extends Running {
  dataDir: string;
  dicomPort: number;
  url: (path: string) => string;
  api: (path: string, init?: RequestInit) => Promise<Response>;
  /** Images whose SOP Instance UID is `sop`, through `POST /api/metadata/images/query`. */
  imagesBySop: (sop: string) => Promise<Array<{ id: number; seriesId: number }>>;
  cleanup(): Promise<void>;
}

/**
 * Starts a real engine (SQLite, files, real HTTP and DICOM listeners on loopback) in a temp dir; in the S3
 * test project its files are stored in MinIO (test/helpers/blobs.ts), in the ClickHouse project its index is
 * in ClickHouse (test/helpers/index-engines.ts).
 */
export async function startTestEngine(overrides: Partial<EngineConfig> = {}): Promise<TestEngine> {
  const dataDir = overrides.dataDir ?? (await mkdtemp(join(tmpdir(), 'sluice-test-')));
  const dicomPort = overrides.dicomPort ?? (await freePort());
  const running = await startSluice({
    dataDir,
    httpHost: '127.0.0.1',
    httpPort: 0,
    dicomHost: '127.0.0.1',
    dicomPort,
    aeTitle: 'SLUICE',
    adminUser: 'admin',
    adminPassword: 'secret',
    sessionTimeoutSecs: 3600,
    exportSetTtlSecs: 6 * 3600,
    pipelines: ['pipelines/default.yaml'],
    blobs: testS3Location(dataDir),
    index: testIndexUrl(dataDir),
    state: testStateUrl(dataDir),
    ...overrides,
  });
  const url = (path: string) => `http://127.0.0.1:${running.httpPort}${path}`;
  const api = (path: string, init: RequestInit = {}) =>
    fetch(url(path), { ...init, headers: { ...AUTH, ...(init.headers ?? {}) } });
  return {
    ...running,
    dataDir,
    dicomPort,
    url,
    api,
    async imagesBySop(sop) {
      const r = await api('/api/metadata/images/query', {
        method: 'POST',
        body: JSON.stringify({
          startIndex: 0,
          count: 10,
          queryProperties: [{ propertyName: 'sopInstanceUID', operator: '=', propertyValue: sop }],
        }),
      });
      return (await r.json()) as Array<{ id: number; seriesId: number }>;
    },
    async cleanup() {
      await running.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
