/**
 * The operations log: one line per event, with a time and a level, as JSON (`SLUICE_LOG_FORMAT=json`, for
 * collectors) or pretty (the default, for people), at `SLUICE_LOG_LEVEL` (default info). Not the audit log
 * (`/api/log`, src/log/), which users read through the API.
 *
 * What goes where: starts, stops, failures and one summary per association or batch at info; one line per
 * instance at debug (guarded by `enabled('debug')`, so it costs nothing at info). Lines carry UIDs, envelope
 * ids, AE titles and counts, never patient names or IDs; the fields below are redacted all the same.
 *
 * Modules take a logger at import time (`const log = logger('watch_folder')`); it follows the root that
 * `configureLogging` installs at start (and that tests replace to capture lines), so nothing is passed down.
 *
 * @example
 * const log = logger('dicom_scp');
 * log.info({ callingAe, instances, bytes, durationMs }, 'association released');
 * if (log.enabled('debug')) log.debug({ sopInstanceUid }, 'instance stored');
 */
import { pino, stdSerializers, stdTimeFunctions, type DestinationStream, type Logger } from 'pino';
import pretty from 'pino-pretty';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_FORMATS = ['pretty', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export interface LoggingOptions {
  level: LogLevel;
  format: LogFormat;
  /** Where lines go; standard output by default. */
  destination?: DestinationStream;
}

/** Patient data that must never reach a log line, whoever passes it by mistake. */
const REDACTED = ['PatientName', 'PatientID', 'PatientBirthDate', 'patientName', 'patientId', 'patientID'];

function build({ level, format, destination }: LoggingOptions): Logger {
  const out =
    format === 'json'
      ? (destination ?? pino.destination({ dest: 1, sync: true }))
      : pretty({
          colorize: destination === undefined && process.stdout.isTTY === true,
          translateTime: 'SYS:yyyy-mm-dd HH:MM:ss.l',
          ignore: 'pid,hostname,component',
          messageFormat: '{if component}{component}: {end}{msg}',
          singleLine: true,
          errorLikeObjectKeys: level === 'debug' || level === 'trace' ? ['err'] : [],
          sync: true,
          ...(destination ? { destination } : { destination: 1 }),
        });
  return pino(
    {
      level,
      timestamp: stdTimeFunctions.isoTime,
      // pino-pretty prints the error key on lines of its own; `err` stays on the line unless debugging.
      ...(format === 'pretty' && level !== 'debug' && level !== 'trace' ? { errorKey: 'exception' } : {}),
      // Pretty lines stay one line: an error is its name, code and message (with its stack at debug).
      serializers: {
        err: format === 'json' || level === 'debug' || level === 'trace' ? stdSerializers.err : briefError,
      },
      redact: { paths: [...REDACTED, ...REDACTED.map((p) => `*.${p}`)], censor: '[redacted]' },
    },
    out,
  );
}

function briefError(err: unknown): unknown {
  if (!(err instanceof Error)) return err;
  const code = (err as { code?: unknown }).code;
  return `${err.name}${typeof code === 'string' ? ` ${code}` : ''}: ${err.message}`;
}

let root = build({ level: 'info', format: 'pretty' });
let generation = 0;

/** Installs the root logger every module logger follows from its next line on. */
export function configureLogging(options: LoggingOptions): void {
  root = build(options);
  generation++;
}

type LogMethod = (objOrMsg: object | string, msg?: string) => void;

/** A module's logger: a child of whatever root is installed, with its bindings (`component`, …). */
export class Log {
  private current: Logger | undefined;
  private builtFor = -1;

  constructor(private readonly bindings: Record<string, unknown>) {}

  private get pino(): Logger {
    if (this.builtFor !== generation) {
      this.current = root.child(this.bindings);
      this.builtFor = generation;
    }
    return this.current!;
  }

  /** Cheap check before building a per-instance line's fields. */
  enabled(level: Exclude<LogLevel, 'silent'>): boolean {
    return this.pino.isLevelEnabled(level);
  }

  child(bindings: Record<string, unknown>): Log {
    return new Log({ ...this.bindings, ...bindings });
  }

  readonly fatal: LogMethod = (o, m) => this.write('fatal', o, m);
  readonly error: LogMethod = (o, m) => this.write('error', o, m);
  readonly warn: LogMethod = (o, m) => this.write('warn', o, m);
  readonly info: LogMethod = (o, m) => this.write('info', o, m);
  readonly debug: LogMethod = (o, m) => this.write('debug', o, m);
  readonly trace: LogMethod = (o, m) => this.write('trace', o, m);

  private write(level: Exclude<LogLevel, 'silent'>, objOrMsg: object | string, msg?: string): void {
    const p = this.pino;
    if (typeof objOrMsg === 'string') p[level](objOrMsg);
    else p[level](objOrMsg, msg);
  }
}

export function logger(component: string, bindings: Record<string, unknown> = {}): Log {
  return new Log({ component, ...bindings });
}
