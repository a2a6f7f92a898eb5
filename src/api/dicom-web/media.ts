/**
 * Media types of DICOMweb (PS3.18 8.7): what an `Accept` header asks for (a multipart/related response's
 * `type` and `transfer-syntax`, or a single-part media type), the media type of each transfer syntax's
 * frames, and the framing of a multipart/related response.
 */
import { randomBytes } from 'node:crypto';
import { TransferSyntax } from '../../dicom/transfer-syntax.js';

export interface Acceptable {
  /** The media type wanted: a multipart response's `type` parameter, else the media type itself. */
  mediaType: string;
  /** `transfer-syntax` as asked ('*' for any); undefined when not given. */
  transferSyntax?: string;
  multipart: boolean;
}

/** Splits on commas outside quotes. */
function splitList(value: string, separator: string): string[] {
  const out: string[] = [];
  let current = '';
  let quoted = false;
  for (const ch of value) {
    if (ch === '"') quoted = !quoted;
    if (ch === separator && !quoted) {
      out.push(current);
      current = '';
    } else current += ch;
  }
  out.push(current);
  return out.map((s) => s.trim()).filter(Boolean);
}

/** The media ranges of an Accept header, best first (by q, then order); `*\/*` when absent. */
export function parseAccept(header: string | undefined): Acceptable[] {
  const ranges = splitList(header?.trim() || '*/*', ',').map((range, index) => {
    const [type, ...params] = splitList(range, ';');
    const values = new Map(
      params.map((p) => {
        const eq = p.indexOf('=');
        return [
          p
            .slice(0, eq < 0 ? p.length : eq)
            .trim()
            .toLowerCase(),
          eq < 0
            ? ''
            : p
                .slice(eq + 1)
                .trim()
                .replace(/^"(.*)"$/, '$1'),
        ] as const;
      }),
    );
    const q = Number(values.get('q') ?? 1);
    const multipart = type.toLowerCase() === 'multipart/related';
    return {
      acceptable: {
        mediaType: (multipart ? (values.get('type') ?? '*/*') : type).toLowerCase(),
        transferSyntax: values.get('transfer-syntax'),
        multipart,
      },
      q: Number.isFinite(q) ? q : 1,
      index,
    };
  });
  return ranges
    .filter((r) => r.q > 0)
    .sort((a, b) => b.q - a.q || a.index - b.index)
    .map((r) => r.acceptable);
}

/** Whether `wanted` (possibly `image/*` or `*\/*`) covers `mediaType`. */
export function covers(wanted: string, mediaType: string): boolean {
  if (wanted === '*/*' || wanted === '*') return true;
  if (wanted.endsWith('/*')) return mediaType.startsWith(wanted.slice(0, -1));
  return wanted === mediaType;
}

/** The media type of a frame (or bulk pixel data) in a transfer syntax (PS3.18 Table 8.7.3-2). */
export function frameMediaType(transferSyntaxUid: string): string {
  switch (transferSyntaxUid) {
    case TransferSyntax.JpegBaseline:
    case TransferSyntax.JpegExtended:
    case TransferSyntax.JpegLossless:
    case TransferSyntax.JpegLosslessSV1:
      return 'image/jpeg';
    case TransferSyntax.JpegLsLossless:
    case TransferSyntax.JpegLsNearLossless:
      return 'image/jls';
    case TransferSyntax.Jpeg2000Lossless:
    case TransferSyntax.Jpeg2000:
      return 'image/jp2';
    case TransferSyntax.RleLossless:
      return 'image/dicom-rle';
    default:
      return 'application/octet-stream';
  }
}

/** A multipart/related response's framing: the Content-Type and each part's header and the closing line. */
export class MultipartWriter {
  readonly boundary = randomBytes(16).toString('hex');
  private first = true;

  constructor(readonly type: string) {}

  get contentType(): string {
    return `multipart/related; type="${this.type}"; boundary=${this.boundary}`;
  }

  /** The delimiter and headers in front of a part. */
  partHeader(contentType: string, extra: Record<string, string> = {}): Buffer {
    const lines = [`${this.first ? '' : '\r\n'}--${this.boundary}`, `Content-Type: ${contentType}`];
    for (const [name, value] of Object.entries(extra)) lines.push(`${name}: ${value}`);
    this.first = false;
    return Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
  }

  end(): Buffer {
    return Buffer.from(`${this.first ? '' : '\r\n'}--${this.boundary}--\r\n`, 'latin1');
  }
}
