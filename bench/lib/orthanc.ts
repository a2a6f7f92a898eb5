/**
 * Orthanc (Debian package `orthanc`) as a DICOM peer, for the benchmarks and the integration tests: its own
 * config JSON and data directory, free DICOM and HTTP ports, HTTP on loopback only, TCP_NODELAY=1, no
 * plugins. (Orthanc's DICOM listener binds every interface; only loopback traffic is ever sent to it.)
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Proc } from './procs.js';
import { dicomEcho, freePorts, httpJson, httpStatus, waitFor } from './util.js';

export interface OrthancOptions {
  /** Empty directory; Orthanc keeps its config, index and storage under it. */
  dir: string;
  /** stdout and stderr go here (otherwise captured in memory). */
  logFile?: string;
  aeTitle?: string;
  /** Refuse associations whose called AE title is not ours (Orthanc's DicomCheckCalledAet). */
  checkCalledAe?: boolean;
  dicomPort?: number;
  timeoutMs?: number;
  /** More configuration (e.g. `DicomModalities`), merged over ours. */
  config?: Record<string, unknown>;
}

export interface RunningOrthanc {
  aeTitle: string;
  dicomPort: number;
  httpPort: number;
  /** http://127.0.0.1:<httpPort> */
  base: string;
  proc: Proc;
  /** CountInstances of GET /statistics. */
  instanceCount(): Promise<number>;
  /** SOP Instance UIDs of every stored instance. */
  sopInstanceUids(): Promise<string[]>;
  stop(): Promise<void>;
}

export async function startOrthanc(opts: OrthancOptions): Promise<RunningOrthanc> {
  const aeTitle = opts.aeTitle ?? 'ORTHANC';
  const [freeDicom, httpPort] = await freePorts(2);
  const dicomPort = opts.dicomPort ?? freeDicom;
  await mkdir(opts.dir, { recursive: true });
  const config = {
    Name: `SLUICE-PEER-${aeTitle}`,
    StorageDirectory: join(opts.dir, 'storage'),
    IndexDirectory: join(opts.dir, 'index'),
    DicomServerEnabled: true,
    DicomAet: aeTitle,
    DicomPort: dicomPort,
    DicomCheckCalledAet: opts.checkCalledAe ?? false,
    HttpServerEnabled: true,
    HttpPort: httpPort,
    RemoteAccessAllowed: false,
    AuthenticationEnabled: false,
    Plugins: [],
    ...opts.config,
  };
  const configFile = join(opts.dir, 'orthanc.json');
  await writeFile(configFile, JSON.stringify(config, null, 2));
  const proc = new Proc('Orthanc', [configFile], {
    env: { ...process.env, TCP_NODELAY: '1' },
    logFile: opts.logFile,
    group: true,
  });
  const base = `http://127.0.0.1:${httpPort}`;
  try {
    await waitFor(
      'Orthanc',
      async () =>
        (await httpStatus(`${base}/system`)) === 200 && (await dicomEcho(aeTitle, dicomPort))
          ? true
          : undefined,
      {
        timeoutMs: opts.timeoutMs ?? 30_000,
        intervalMs: 150,
        failed: () => {
          const exit = proc.exit;
          return exit
            ? `process exited (${exit.error?.message ?? exit.signal ?? `code ${exit.code}`}) before it was ready`
            : undefined;
        },
      },
    );
  } catch (err) {
    await proc.stop(2000);
    const log = proc.output(3000).trim();
    throw new Error(`${(err as Error).message}${log ? `\n--- log tail ---\n${log}` : ''}`);
  }
  return {
    aeTitle,
    dicomPort,
    httpPort,
    base,
    proc,
    async instanceCount() {
      const stats = (await httpJson(`${base}/statistics`)) as { CountInstances?: number };
      return stats.CountInstances ?? -1;
    },
    async sopInstanceUids() {
      const instances = (await httpJson(`${base}/instances?expand`)) as Array<{
        MainDicomTags: { SOPInstanceUID: string };
      }>;
      return instances.map((i) => i.MainDicomTags.SOPInstanceUID);
    },
    stop: async () => void (await proc.stop(15_000)),
  };
}
