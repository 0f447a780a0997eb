import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';

export type Part = { name: string; value: string } | { name: string; filename: string; contentType?: string; data: Buffer | Iterable<Buffer> };

/**
 * A multipart/form-data body built by hand (no form-data dependency): as one Buffer, or — with
 * `stream: true` — as a Readable that yields the file data chunk by chunk, so a large upload
 * is never one buffer on the sending side either.
 */
export function multipart(parts: Part[], opts?: { stream?: false; boundary?: string }): { headers: Record<string, string>; payload: Buffer };
export function multipart(parts: Part[], opts: { stream: true; boundary?: string }): { headers: Record<string, string>; payload: Readable };
export function multipart(parts: Part[], opts?: { stream?: boolean; boundary?: string }): { headers: Record<string, string>; payload: Buffer | Readable };
export function multipart(parts: Part[], opts: { stream?: boolean; boundary?: string } = {}): { headers: Record<string, string>; payload: Buffer | Readable } {
  const boundary = opts.boundary ?? `----keycordtest${randomBytes(8).toString('hex')}`;
  const headers = { 'content-type': `multipart/form-data; boundary=${boundary}` };
  const chunks = function* (): Generator<Buffer> {
    for (const part of parts) {
      if ('value' in part) {
        yield Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${part.name}"\r\n\r\n${part.value}\r\n`);
      } else {
        yield Buffer.from(
          `--${boundary}\r\nContent-Disposition: form-data; name="${part.name}"; filename="${part.filename}"\r\n` + `Content-Type: ${part.contentType ?? 'application/octet-stream'}\r\n\r\n`,
        );
        if (Buffer.isBuffer(part.data)) yield part.data;
        else yield* part.data;
        yield Buffer.from('\r\n');
      }
    }
    yield Buffer.from(`--${boundary}--\r\n`);
  };
  if (opts.stream) return { headers, payload: Readable.from(chunks(), { objectMode: false }) };
  return { headers, payload: Buffer.concat([...chunks()]) };
}
