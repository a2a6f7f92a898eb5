/**
 * Apache Kafka for the tests and benchmarks: no Debian package and no Docker here, so the broker's jars come
 * from Maven Central (pinned below, fetched once into a cache folder) and run as a plain Java process, one
 * KRaft node that is both broker and controller, on free ports of 127.0.0.1, its data in a temporary folder.
 * Ready in a few seconds (NOTES.md).
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  openSync,
  closeSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';

export const KAFKA_VERSION = '4.4.0';

/**
 * The jars: the broker, and an SLF4J 2 binding to log4j2 (Kafka's pom pins slf4j-api 1.7, which does not see
 * log4j-slf4j2-impl, so the broker would log nothing).
 */
export const KAFKA_ARTIFACTS = [
  `org.apache.kafka:kafka_2.13:${KAFKA_VERSION}`,
  'org.slf4j:slf4j-api:2.0.17',
  'org.apache.logging.log4j:log4j-slf4j2-impl:2.24.3',
  'org.apache.logging.log4j:log4j-core:2.24.3',
];

/** A pom whose runtime dependencies are the jars above (read by `mvn dependency:copy-dependencies`). */
export function kafkaPom(): string {
  const deps = KAFKA_ARTIFACTS.map((coordinate) => {
    const [groupId, artifactId, version] = coordinate.split(':');
    return `    <dependency><groupId>${groupId}</groupId><artifactId>${artifactId}</artifactId><version>${version}</version></dependency>`;
  });
  return `<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>sluice.test</groupId>
  <artifactId>kafka-jars</artifactId>
  <version>1</version>
  <dependencies>
${deps.join('\n')}
  </dependencies>
</project>
`;
}

/**
 * The folder of the jars: one per list of artifacts (a changed pin gets a new folder, never a mix). It exists
 * only complete, as it is renamed into place when filled.
 */
export function kafkaLib(): string {
  const key = createHash('sha256').update(KAFKA_ARTIFACTS.join('\n')).digest('hex').slice(0, 8);
  const cache = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(cache, 'sluice-kafka', `${KAFKA_VERSION}-${key}`, 'lib');
}

const onPath = (command: string) => spawnSync('/bin/sh', ['-c', `command -v "${command}"`]).status === 0;

/** Java (the broker) and Maven (the fetch), from Debian when missing and we may install, as test/global-setup.ts does. */
function ensureJavaAndMaven(needMaven: boolean, log: (line: string) => void): void {
  const packages = [
    ...(onPath('java') ? [] : ['openjdk-17-jre-headless']),
    ...(needMaven && !onPath('mvn') ? ['maven'] : []),
  ];
  if (!packages.length) return;
  const canInstall =
    process.platform === 'linux' &&
    process.getuid?.() === 0 &&
    existsSync('/etc/debian_version') &&
    onPath('apt-get') &&
    process.env.TEST_SETUP_NO_INSTALL !== '1';
  if (!canInstall)
    throw new Error(`Kafka for the tests needs Java 17 and Maven: apt-get install ${packages.join(' ')}`);
  log(`test set-up: installing ${packages.join(' ')} (for Kafka)`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...packages], {
    stdio: 'inherit',
    env,
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Runs `fn` holding a lock folder (mkdir is atomic), so that .ci/run's early fetch and a test run's set-up do
 * not both download: the second waits. A lock whose process is gone is taken over.
 */
async function withLock<T>(lock: string, fn: () => Promise<T>): Promise<T> {
  const owner = join(lock, 'pid');
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    let pid = NaN;
    try {
      pid = Number(readFileSync(owner, 'utf8'));
    } catch {
      // not written yet (just taken), or the owner died between mkdir and write: judged by age below
    }
    const stale = Number.isInteger(pid)
      ? !alive(pid)
      : Date.now() - (statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now()) > 30_000;
    if (stale) rmSync(lock, { recursive: true, force: true });
    else await sleep(250);
  }
  try {
    await writeFile(owner, String(process.pid));
    return await fn();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/**
 * The folder of Kafka's jars, fetched with Maven when absent (~5–10 s cold); installs Java and Maven first
 * when missing. Safe to call from several processes at once.
 */
export async function ensureKafka(
  log: (line: string) => void = (l) => process.stderr.write(`${l}\n`),
): Promise<string> {
  const lib = kafkaLib();
  ensureJavaAndMaven(!existsSync(lib), log);
  if (existsSync(lib)) return lib;
  const cache = join(lib, '..');
  mkdirSync(cache, { recursive: true });
  await withLock(join(cache, '.lock'), async () => {
    if (existsSync(lib)) return; // fetched by the process we waited for
    log(`test set-up: fetching Kafka ${KAFKA_VERSION} with Maven into ${lib}`);
    const work = await mkdtemp(join(cache, '.fetch-'));
    try {
      await writeFile(join(work, 'pom.xml'), kafkaPom());
      const mvn = spawnSync(
        'mvn',
        [
          ...['-q', '-B', '-Dstyle.color=never', '-f', join(work, 'pom.xml')],
          'dependency:copy-dependencies',
          `-DoutputDirectory=${join(work, 'lib')}`,
          '-DincludeScope=runtime',
        ],
        { encoding: 'utf8', maxBuffer: 64 << 20 },
      );
      if (mvn.status !== 0)
        throw new Error(
          `mvn dependency:copy-dependencies failed (${mvn.error ?? `exit ${mvn.status}`}):\n${mvn.stdout}${mvn.stderr}`,
        );
      if (!existsSync(join(work, 'lib', `kafka_2.13-${KAFKA_VERSION}.jar`)))
        throw new Error(`Maven did not bring kafka_2.13-${KAFKA_VERSION}.jar`);
      renameSync(join(work, 'lib'), lib);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });
  return lib;
}

/** A free port of 127.0.0.1 (as test/helpers/engine.ts's, which would load the whole engine into .ci/run's fetch). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export interface KafkaBroker {
  /** `127.0.0.1:<port>`, for kafkajs' `brokers`. */
  brokers: string;
  /** `kafka://127.0.0.1:<port>` */
  url: string;
  /** The broker's log (log4j at INFO, and the JVM's own output). */
  logFile: string;
  /** SIGTERM (a clean shutdown), SIGKILL after 10 s; then removes its data. */
  stop(): Promise<void>;
  /** SIGKILL (a crash); then removes its data. */
  kill(): Promise<void>;
  /** SIGKILL, keeping its data and ports: an outage, until `restart`. */
  crash(): Promise<void>;
  /** Starts the crashed broker again on its data and ports; resolves once it answers. */
  restart(): Promise<void>;
}

/** Brokers started by this process, killed if it exits without stopping them. */
const running = new Map<ChildProcess, string>();
process.once('exit', () =>
  running.forEach((dir, child) => {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }),
);

/**
 * Kills the broker when this process dies in a way that runs no exit handler (SIGKILL, an uncaught signal):
 * a detached shell that watches both and ends itself when the broker is gone.
 */
function watchdog(broker: number, dir: string): void {
  const script = [
    'while kill -0 "$0" 2>/dev/null && kill -0 "$1" 2>/dev/null; do sleep 1; done',
    'if kill -0 "$1" 2>/dev/null; then kill -9 "$1"; sleep 1; rm -rf "$2"; fi',
  ].join('\n');
  spawn('/bin/sh', ['-c', script, String(process.pid), String(broker), dir], {
    detached: true,
    stdio: 'ignore',
  }).unref();
}

async function logTail(file: string, lines = 40): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.split('\n').slice(-lines).join('\n');
}

export async function startKafka(
  options: {
    /** The jars' folder (default: ensureKafka()). */ lib?: string;
    /** -Xmx (default 512m). */ heap?: string;
    /** More or other server.properties. */ properties?: Record<string, string | number | boolean>;
  } = {},
): Promise<KafkaBroker> {
  const lib = options.lib ?? (await ensureKafka());
  const dir = await mkdtemp(join(tmpdir(), 'sluice-kafka-'));
  const port = await freePort();
  let controllerPort = await freePort();
  while (controllerPort === port) controllerPort = await freePort();
  const brokers = `127.0.0.1:${port}`;
  const properties: Record<string, string | number | boolean> = {
    'process.roles': 'broker,controller',
    'node.id': 1,
    // A dynamic quorum (formatted with --standalone), Kafka 4's default; controller.quorum.voters is the old way.
    'controller.quorum.bootstrap.servers': `127.0.0.1:${controllerPort}`,
    listeners: `PLAINTEXT://${brokers},CONTROLLER://127.0.0.1:${controllerPort}`,
    'advertised.listeners': `PLAINTEXT://${brokers}`,
    'controller.listener.names': 'CONTROLLER',
    'inter.broker.listener.name': 'PLAINTEXT',
    'listener.security.protocol.map': 'PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    'log.dirs': join(dir, 'data'),
    'num.partitions': 1,
    // One node: internal topics must not wait for replicas that will never come.
    'offsets.topic.replication.factor': 1,
    'transaction.state.log.replication.factor': 1,
    'transaction.state.log.min.isr': 1,
    'share.coordinator.state.topic.replication.factor': 1,
    'share.coordinator.state.topic.min.isr': 1,
    // Consumer groups form at once instead of after 3 s.
    'group.initial.rebalance.delay.ms': 0,
    'auto.create.topics.enable': true,
    ...options.properties,
  };
  const config = join(dir, 'server.properties');
  await writeFile(
    config,
    Object.entries(properties)
      .map(([k, v]) => `${k}=${v}`)
      .join('\n') + '\n',
  );
  // Without a log4j2 configuration the broker prints errors only; INFO to stdout, which goes to the log file.
  const log4j = join(dir, 'log4j2.properties');
  await writeFile(
    log4j,
    [
      'appender.out.type = Console',
      'appender.out.name = out',
      'appender.out.layout.type = PatternLayout',
      'appender.out.layout.pattern = [%d] %p %m (%c)%n',
      'rootLogger.level = INFO',
      'rootLogger.appenderRef.out.ref = out',
      '',
    ].join('\n'),
  );
  const classpath = `${lib}/*`;
  const jvm = ['-cp', classpath, `-Dlog4j2.configurationFile=${log4j}`, '-Djava.awt.headless=true'];
  // A base64url UUID; one that starts with '-' would read as an option (Kafka's own Uuid.randomUuid skips those).
  let clusterId = '-';
  while (clusterId.startsWith('-')) clusterId = randomBytes(16).toString('base64url');
  const format = spawnSync(
    'java',
    [...jvm, 'kafka.tools.StorageTool', 'format', '-t', clusterId, '-c', config, '--standalone'],
    { encoding: 'utf8' },
  );
  if (format.status !== 0) {
    await rm(dir, { recursive: true, force: true });
    throw new Error(`kafka-storage format failed (exit ${format.status}):\n${format.stdout}${format.stderr}`);
  }

  const logFile = join(dir, 'server.log');
  let child: ChildProcess;
  let exited: Promise<void>;
  const launch = () => {
    const out = openSync(logFile, 'a');
    child = spawn('java', [`-Xmx${options.heap ?? '512m'}`, ...jvm, 'kafka.Kafka', config], {
      stdio: ['ignore', out, out],
    });
    closeSync(out);
    running.set(child, dir);
    if (child.pid) watchdog(child.pid, dir);
    exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  };
  const halt = async (signal: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill(signal);
      const timer = signal === 'SIGKILL' ? undefined : setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    running.delete(child);
  };
  const end = async (signal: NodeJS.Signals) => {
    await halt(signal);
    await rm(dir, { recursive: true, force: true });
  };

  const ready = async () => {
    const started = Date.now();
    const admin = new Kafka({
      clientId: 'sluice-test-ready',
      brokers: [brokers],
      logLevel: logLevel.NOTHING,
      connectionTimeout: 1_000,
      retry: { retries: 0 },
    }).admin();
    try {
      for (;;) {
        if (child.exitCode !== null || child.signalCode !== null)
          throw new Error(`the Kafka broker exited (${child.exitCode ?? child.signalCode})`);
        try {
          await admin.connect();
          await admin.describeCluster();
          break;
        } catch {
          await admin.disconnect().catch(() => undefined);
        }
        if (Date.now() - started > 60_000) throw new Error('the Kafka broker did not answer within 60 s');
        await sleep(200);
      }
    } catch (e) {
      const tail = await logTail(logFile);
      await end('SIGKILL');
      throw new Error(`${(e as Error).message}; ${logFile}:\n${tail}`);
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  };
  launch();
  await ready();

  return {
    brokers,
    url: `kafka://${brokers}`,
    logFile,
    stop: () => end('SIGTERM'),
    kill: () => end('SIGKILL'),
    crash: () => halt('SIGKILL'),
    restart: async () => {
      launch();
      await ready();
    },
  };
}

/** Creates a topic and waits until each partition has a leader (a first produce would otherwise meet NOT_LEADER). */
export async function createTopic(brokers: string, topic: string, partitions = 1): Promise<void> {
  const admin = new Kafka({
    clientId: 'sluice-test-admin',
    brokers: [brokers],
    logLevel: logLevel.WARN,
  }).admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true });
  } finally {
    await admin.disconnect();
  }
}
