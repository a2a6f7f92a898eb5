/**
 * The command line: `sluice <command> [options]`. Help goes to standard output with exit 0; a wrong
 * command or option is named on standard error with exit 2; a command that fails exits 1. Commands load
 * what they need only when they run, so `--help` and `--version` answer at once.
 */
import './threadpool.js'; // first: sizes libuv's thread pool before it starts
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { PACKAGE_VERSION } from './ops/package.js';
import { stopWithParent } from './parent-watch.js';
import { SluiceError } from './errors.js';

/** What a command prints is its output, not a log line: straight to stdout or stderr. */
const say = (text: string) => void process.stdout.write(`${text}\n`);
const complain = (text: string) => void process.stderr.write(`${text}\n`);

type Options = NonNullable<ParseArgsConfig['options']>;

interface Command {
  summary: string;
  usage: string;
  /** Longer help: what it does, its options. */
  help: string;
  options: Options;
  allowPositionals: boolean;
  run(values: Record<string, string | boolean | undefined>, positionals: string[]): Promise<number>;
}

const configOption: Options = {
  config: { type: 'string', short: 'c' },
};

const COMMANDS: Record<string, Command> = {
  start: {
    summary: 'run the engine',
    usage:
      'sluice start [--config sluice.yaml] [--role <roles>] [--verbose | --trace | --log-level <level>] [--log-format json]',
    help: `Runs the engine: the pipelines, the DICOM listeners and the HTTP API, until SIGINT or SIGTERM.

Options:
  -c, --config <file>      configuration file (YAML; same keys as the SLUICE_* variables, lower case
                           without the prefix: http_port, ae_title…); also SLUICE_CONFIG. Variables win.
      --role <roles>       all (default: everything in this process), or frontend, worker, api, several
                           separated by commas (SLUICE_ROLE; needs SLUICE_BUS, see the README)
      --log-level <level>  fatal, error, warn, info (default), debug, trace, silent (SLUICE_LOG_LEVEL)
      --verbose            same as --log-level debug (one line per instance)
      --trace              same as --log-level trace
      --log-format <f>     pretty (default) or json (SLUICE_LOG_FORMAT)`,
    options: {
      ...configOption,
      role: { type: 'string' },
      'log-level': { type: 'string' },
      'log-format': { type: 'string' },
      verbose: { type: 'boolean' },
      trace: { type: 'boolean' },
    },
    allowPositionals: false,
    async run(values) {
      const { loadConfig } = await import('./config.js');
      const env = { ...process.env };
      const level = values.trace ? 'trace' : values.verbose ? 'debug' : values['log-level'];
      if (level) env.SLUICE_LOG_LEVEL = String(level);
      if (values['log-format']) env.SLUICE_LOG_FORMAT = String(values['log-format']);
      if (values.role) env.SLUICE_ROLE = String(values.role);
      const config = loadConfig(env, { file: values.config as string | undefined });
      const { configureLogging, logger } = await import('./ops/logger.js');
      configureLogging({ level: config.logLevel ?? 'info', format: config.logFormat ?? 'pretty' });
      const log = logger('engine');
      const { startSluice } = await import('./main.js');
      const running = await startSluice(config);
      let stopping = false;
      const shutdown = async (reason: string) => {
        if (stopping) return;
        stopping = true;
        log.info({ reason }, 'shutting down');
        try {
          await running.stop();
          process.exit(0);
        } catch (err) {
          log.error({ err }, 'stopping failed');
          process.exit(1);
        }
      };
      process.once('SIGINT', () => void shutdown('SIGINT'));
      process.once('SIGTERM', () => void shutdown('SIGTERM'));
      process.once('SIGHUP', () => void shutdown('SIGHUP'));
      stopWithParent((reason) => void shutdown(reason));
      return -1;
    },
  },

  import: {
    summary: "send DICOM files into a running engine's pipeline",
    usage:
      'sluice import <folder|file>... [--url http://127.0.0.1:5000 | --local] [--user u] [--password p] [--jobs 4]',
    help: `Sends every DICOM Part-10 file of the folders (recursively) and files named to a running engine
(POST /api/images, its http_upload source), with a progress bar on standard error (files, MB/s, ETA,
failures) and a summary on standard output. Files that are not Part-10 (no "DICM" at byte 128) are
skipped. Exit 1 when any file was refused or could not be sent.

With --local, no engine needs to run: the configuration's engine is started for the import alone (its
pipelines, on its data directory, HTTP and DICOM on ports of the system's choosing on loopback) and stopped
after. Not while another engine uses the same data directory.

Options:
      --url <url>          the engine (default http://<SLUICE_HTTP_HOST>:<SLUICE_HTTP_PORT> of the configuration)
  -u, --user <name>        default SLUICE_ADMIN_USER of the configuration
  -p, --password <pw>      default SLUICE_ADMIN_PASSWORD of the configuration
  -j, --jobs <n>           uploads at once (default 4)
  -c, --config <file>      configuration file to take the defaults from (also SLUICE_CONFIG)
      --local              start the engine for this import alone (see above)
  -q, --quiet              no progress bar`,
    options: {
      ...configOption,
      url: { type: 'string' },
      local: { type: 'boolean' },
      user: { type: 'string', short: 'u' },
      password: { type: 'string', short: 'p' },
      jobs: { type: 'string', short: 'j' },
      quiet: { type: 'boolean', short: 'q' },
    },
    allowPositionals: true,
    async run(values, positionals) {
      if (!positionals.length) throw new UsageError('import: name at least one folder or file');
      const jobs = values.jobs === undefined ? 4 : Number(values.jobs);
      if (!Number.isInteger(jobs) || jobs < 1 || jobs > 64)
        throw new UsageError('import: --jobs must be a whole number from 1 to 64');
      const { loadConfig } = await import('./config.js');
      const config = loadConfig(process.env, { file: values.config as string | undefined });
      const host =
        config.httpHost === '0.0.0.0' ? '127.0.0.1' : config.httpHost === '::' ? '[::1]' : config.httpHost;
      if (values.local && values.url) throw new UsageError('import: --url and --local exclude each other');
      const { importFiles } = await import('./cli/import.js');
      if (values.local) {
        const { configureLogging } = await import('./ops/logger.js');
        configureLogging({ level: 'warn', format: config.logFormat ?? 'pretty' });
        const { startSluice } = await import('./main.js');
        const local = { httpHost: '127.0.0.1', httpPort: 0, dicomHost: '127.0.0.1', dicomPort: 0 };
        const running = await startSluice({ ...config, ...local });
        try {
          const summary = await importFiles(positionals, {
            url: `http://127.0.0.1:${running.httpPort}`,
            user: config.adminUser,
            password: config.adminPassword,
            jobs,
            progress: !values.quiet && process.stderr.isTTY === true,
          });
          return summary.failed || summary.refused ? 1 : 0;
        } finally {
          await running.stop();
        }
      }
      const summary = await importFiles(positionals, {
        url: String(
          values.url ??
            `http://${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${config.httpPort}`,
        ),
        user: String(values.user ?? config.adminUser),
        password: String(values.password ?? config.adminPassword),
        jobs,
        progress: !values.quiet && process.stderr.isTTY === true,
      });
      return summary.failed || summary.refused ? 1 : 0;
    },
  },

  lint: {
    summary: 'check pipeline files without starting anything',
    usage: 'sluice lint <file.yaml>...',
    help: `Checks pipeline files: YAML, every component's configuration, and the order of operators and sinks.
Each problem names file:line:col and the path, with the nearest valid name for a misspelt key or type.
Exit 1 when a file has problems.`,
    options: {},
    allowPositionals: true,
    async run(_values, files) {
      if (!files.length) throw new UsageError('lint: name at least one pipeline file');
      const { loadPipelineFile, PipelineFileError } = await import('./pipeline/pipeline-file.js');
      const { registry } = await import('./components.js');
      let failed = 0;
      for (const file of files) {
        try {
          const spec = await loadPipelineFile(file, registry);
          say(
            `${file}: ok (pipeline "${spec.name}": ${spec.sources.length} source(s), ${spec.operators.length} operator(s), ${spec.sinks.length} sink(s))`,
          );
        } catch (err) {
          failed++;
          complain(err instanceof PipelineFileError ? err.message : `${file}: ${(err as Error).message}`);
        }
      }
      return failed ? 1 : 0;
    },
  },

  schema: {
    summary: 'write the JSON Schema of pipeline files',
    usage: 'sluice schema [out.json]',
    help: 'Writes the JSON Schema of pipeline files, generated from the component registry (default\npipelines/pipeline.schema.json), for editors.',
    options: {},
    allowPositionals: true,
    async run(_values, [out = 'pipelines/pipeline.schema.json', ...extra]) {
      if (extra.length) throw new UsageError(`schema: one output file at most (got ${extra.length + 1})`);
      const { writeFile } = await import('node:fs/promises');
      const { registry } = await import('./components.js');
      await writeFile(out, JSON.stringify(registry.jsonSchema(), null, 2) + '\n');
      say(`wrote ${out}`);
      return 0;
    },
  },
};

class UsageError extends Error {}

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  return `Sluice ${PACKAGE_VERSION}: streaming DICOM ingestion engine

usage: sluice <command> [options]

Commands:
${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`)
  .join('\n')}

Options:
  -h, --help      this help; \`sluice <command> --help\` for a command's
  -v, --version   the version

Configuration: SLUICE_* environment variables or a file (--config); see the README.`;
}

async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined || first === '-h' || first === '--help' || first === 'help') {
    const topic = first === 'help' ? rest[0] : undefined;
    if (topic && COMMANDS[topic]) say(commandHelp(topic));
    else say(usage());
    return 0;
  }
  if (first === '-v' || first === '--version') {
    say(PACKAGE_VERSION);
    return 0;
  }
  const command = COMMANDS[first];
  if (!command) {
    const { didYouMean } = await import('./pipeline/nearest.js');
    const what = first.startsWith('-') ? `unknown option "${first}"` : `unknown command "${first}"`;
    complain(`sluice: ${what}${didYouMean(first, Object.keys(COMMANDS))}\n\n${usage()}`);
    return 2;
  }
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      options: { ...command.options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: command.allowPositionals,
      strict: true,
    });
  } catch (err) {
    complain(`sluice ${first}: ${(err as Error).message}\nusage: ${command.usage}`);
    return 2;
  }
  if (parsed.values.help) {
    say(commandHelp(first));
    return 0;
  }
  try {
    return await command.run(parsed.values, parsed.positionals);
  } catch (err) {
    if (err instanceof UsageError) {
      complain(`sluice ${err.message}\nusage: ${command.usage}`);
      return 2;
    }
    throw err;
  }
}

function commandHelp(name: string): string {
  const c = COMMANDS[name];
  return `usage: ${c.usage}\n\n${c.help}`;
}

/** Errors whose message is the whole story (configuration, pipeline files) print without a stack. */
function explain(err: unknown): string {
  const e = err as Error;
  return e instanceof SluiceError || e?.name === 'PipelineFileError' ? e.message : String(e?.stack ?? e);
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (err) => {
    complain(explain(err));
    process.exit(1);
  },
);
