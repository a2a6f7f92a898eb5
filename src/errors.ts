/**
 * Typed, coded errors: `SluiceError` is the base of every error the engine raises on purpose (pipeline,
 * DICOM, storage, API). Messages carry UIDs, envelope ids and file names, never patient names or IDs.
 * The HTTP mapping lives in one place (src/api/problem.ts); the DICOM status mapping in the SCP.
 */
export class SluiceError extends Error {
  /** Stable `DOMAIN.REASON` code, safe to show and to match on. */
  readonly code: string;
  readonly httpStatus: number;
  constructor(code: string, message: string, httpStatus = 500, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.httpStatus = httpStatus;
  }
}

/** The bytes are not a DICOM Part-10 object we can read (truncated, not DICOM, absurd lengths…). */
export class InvalidDicomError extends SluiceError {
  constructor(reason: string, options?: { cause?: unknown }) {
    super('DICOM.INVALID', `Invalid DICOM data: ${reason}`, 400, options);
  }
}

/** Readable DICOM, but its SOP class or transfer syntax is not accepted here. */
export class UnsupportedContextError extends SluiceError {
  constructor(reason: string) {
    super('DICOM.UNSUPPORTED_CONTEXT', reason, 400);
  }
}

export class NotFoundError extends SluiceError {
  constructor(what: string) {
    super('API.NOT_FOUND', `${what} not found`, 404);
  }
}

export class BadRequestError extends SluiceError {
  constructor(message: string) {
    super('API.BAD_REQUEST', message, 400);
  }
}

export class StorageError extends SluiceError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('STORAGE.FAILED', message, 500, options);
  }
}

/**
 * The blob store cannot be reached (an object store's endpoint down, its bucket missing, 5xx answers):
 * nothing is stored, the caller should try again later (503; a C-STORE answers 0xA700, out of resources).
 */
export class StorageUnavailableError extends SluiceError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('STORAGE.UNAVAILABLE', message, 503, options);
  }
}

/** An incoming object or body over a configured limit: refused as soon as the limit is passed. */
export class TooLargeError extends SluiceError {
  constructor(what: string, limit: number) {
    super('INPUT.TOO_LARGE', `${what} is larger than ${limit} bytes`, 413);
  }
}

/**
 * A failed write to our own disk: the disk full (507, so a client knows to try later or elsewhere) or any
 * other failure (500), keeping the cause.
 */
export function storageError(message: string, err: unknown): SluiceError {
  const code = (err as NodeJS.ErrnoException)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT')
    return new SluiceError('STORAGE.FULL', `${message}: no space left on the device`, 507, { cause: err });
  return new StorageError(`${message}: ${(err as Error).message}`, { cause: err });
}

export class ConfigError extends SluiceError {
  constructor(message: string) {
    super('CONFIG.INVALID', message, 400);
  }
}

/** Anything thrown that is not a SluiceError becomes one, without losing the cause. */
export function asSluiceError(err: unknown, code = 'INTERNAL.ERROR'): SluiceError {
  if (err instanceof SluiceError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new SluiceError(code, message, 500, { cause: err });
}
