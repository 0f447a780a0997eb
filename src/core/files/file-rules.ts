/**
 * What a stored file's name and content type may be. Both come from the uploader's multipart
 * headers and later go back out in download headers, so they are cleaned rather than trusted:
 * a name keeps no directory part or control characters, a content type is a bare `type/subtype`.
 */
const MAX_FILE_NAME_CHARS = 255;
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
const MEDIA_TYPE = /^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$/;

export function cleanFileName(raw: string | undefined | null): string {
  const base = (raw ?? '').split(/[\\/]/).pop() ?? '';
  const cleaned = base.replace(CONTROL, '').replace(LONE_SURROGATE, '').trim();
  const chars = [...cleaned];
  const name = chars.length > MAX_FILE_NAME_CHARS ? chars.slice(0, MAX_FILE_NAME_CHARS).join('') : cleaned;
  return name === '' || name === '.' || name === '..' ? 'file' : name;
}

export function cleanContentType(raw: string | undefined | null): string {
  const type = (raw ?? '').split(';')[0]!.trim().toLowerCase();
  return MEDIA_TYPE.test(type) ? type : 'application/octet-stream';
}

/** `attachment` with an ASCII fallback and the exact name as RFC 6266 / 8187 `filename*`. */
export function contentDisposition(name: string): string {
  const fallback = name.replace(/[^\x20-\x7e]|["\\%]/g, '_');
  const encoded = encodeURIComponent(name).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `attachment; filename="${fallback}"; filename*=UTF-8''${encoded}`;
}
