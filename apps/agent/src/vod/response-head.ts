/** The status line and header fields of an HTTP/1.x response. */
export interface ResponseHead {
  status: number;
  /** Field names in lower case; repeated fields joined with ", " (RFC 9110 §5.3). */
  headers: Record<string, string>;
  /** Bytes the head took, up to and including the empty line. */
  size: number;
}

/** Longest head accepted: a file server's answer has a dozen short fields. */
export const MAX_HEAD_BYTES = 64 * 1024;

export class ResponseHeadError extends Error {
  override name = 'ResponseHeadError';
}

const STATUS_LINE = /^HTTP\/1\.[01] (\d{3})(?: [^\r\n]*)?$/;
const FIELD = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*(.*?)[ \t]*$/;

/**
 * Parses the head at the start of `buf`: null while the empty line that ends it has not arrived, a ResponseHead once
 * it has. Anything that is not a plain HTTP/1.x head (a folded line, a bad field name, a control character, a head
 * over MAX_HEAD_BYTES) is refused with a ResponseHeadError rather than guessed at.
 */
export function parseResponseHead(buf: Uint8Array): ResponseHead | null {
  const end = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength).indexOf('\r\n\r\n');
  if (end < 0) {
    if (buf.byteLength > MAX_HEAD_BYTES) throw new ResponseHeadError(`response head longer than ${MAX_HEAD_BYTES} bytes`);
    return null;
  }
  if (end + 4 > MAX_HEAD_BYTES) throw new ResponseHeadError(`response head longer than ${MAX_HEAD_BYTES} bytes`);
  const text = Buffer.from(buf.buffer, buf.byteOffset, end).toString('latin1');
  const lines = text.split('\r\n');
  const m = STATUS_LINE.exec(lines[0]!);
  if (!m) throw new ResponseHeadError(`not an HTTP/1.x status line: ${JSON.stringify(lines[0]!.slice(0, 80))}`);
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    // eslint-disable-next-line no-control-regex
    if (/[\x00-\x08\x0a-\x1f\x7f]/.test(line)) throw new ResponseHeadError('control character in a response header');
    const f = FIELD.exec(line);
    if (!f) throw new ResponseHeadError(`malformed response header line: ${JSON.stringify(line.slice(0, 80))}`);
    const name = f[1]!.toLowerCase();
    headers[name] = name in headers ? `${headers[name]}, ${f[2]}` : f[2]!;
  }
  return { status: Number(m[1]), headers, size: end + 4 };
}
