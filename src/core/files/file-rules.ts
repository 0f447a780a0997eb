/**
 * What a stored file's name and content type may be. Both come from the uploader's multipart
 * headers and later go back out in download headers, so they are cleaned rather than trusted:
 * a name keeps no directory part, control characters or invisible ones, a content type is a bare `type/subtype`.
 */
const MAX_FILE_NAME_CHARS = 255;

/** Files one application may hold (uploads past it are 409 LIMIT_REACHED). */
export const MAX_FILES_PER_APP = 1000;
/** How many uploads of the largest size (MAX_FILE_BYTES) one application's files may add up to. */
const STORAGE_IN_LARGEST_UPLOADS = 20;

/**
 * The bytes one application's files may add up to (2 GB at the default MAX_FILE_BYTES of 100 MB),
 * so that no one application can fill DATA_DIR. Counted per file row, as uploaded: content shared
 * by several files counts for each.
 */
export const maxFileStorage = (maxFileBytes: number) => Math.min(Number.MAX_SAFE_INTEGER, maxFileBytes * STORAGE_IN_LARGEST_UPLOADS);
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;
/**
 * Characters that change how the rest of a name is shown without showing themselves: format
 * characters (\p{Cf}: direction marks and overrides — `invoice\u202Efdp.exe` reads
 * "invoiceexe.pdf" — zero-width spaces, the BOM, soft hyphens, tag characters that can carry a
 * hidden ASCII suffix), line and paragraph separators, the combining grapheme joiner and the
 * Hangul fillers, which render as nothing. A download's name goes to a customer's machine, where
 * such a name passes for another file. Format characters that are meaning, not disguise, stay:
 * the zero-width (non-)joiners (emoji sequences, several scripts) and the Arabic marks written
 * before numbers (U+0600–0605, U+06DD, U+0890–0891, U+08E2), which show as signs.
 */
const INVISIBLE = /(?![\u200c\u200d\u0600-\u0605\u06dd\u0890\u0891\u08e2])[\p{Cf}\p{Zl}\p{Zp}\u034f\u115f\u1160\u3164\uffa0]/gu;
/**
 * A subdivision flag (🏴 + tag letters or digits + cancel tag: Scotland, England, Wales): shown as
 * one flag, and its tags spell no dot, so no extension hides in it. Kept whole.
 */
const FLAG_TAG_SEQUENCE = /\u{1F3F4}[\u{E0030}-\u{E0039}\u{E0061}-\u{E007A}]{1,6}\u{E007F}/gu;

/** `text` without INVISIBLE characters, subdivision flags left whole. */
function withoutInvisible(text: string): string {
  let kept = '';
  let from = 0;
  for (const flag of text.matchAll(FLAG_TAG_SEQUENCE)) {
    kept += text.slice(from, flag.index).replace(INVISIBLE, '') + flag[0];
    from = flag.index + flag[0].length;
  }
  return kept + text.slice(from).replace(INVISIBLE, '');
}
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
const MEDIA_TYPE = /^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$/;

export function cleanFileName(raw: string | undefined | null): string {
  const base = (raw ?? '').split(/[\\/]/).pop() ?? '';
  // Lone surrogates first: two halves with an invisible character between must not become a pair.
  const cleaned = withoutInvisible(base.replace(CONTROL, '').replace(LONE_SURROGATE, '')).trim();
  const chars = [...cleaned];
  const name = chars.length > MAX_FILE_NAME_CHARS ? chars.slice(0, MAX_FILE_NAME_CHARS).join('') : cleaned;
  return name === '' || name === '.' || name === '..' ? 'file' : name;
}

export function cleanContentType(raw: string | undefined | null): string {
  const type = (raw ?? '').split(';')[0]!.trim().toLowerCase();
  return MEDIA_TYPE.test(type) ? type : 'application/octet-stream';
}

/** `attachment` with an ASCII fallback and the exact name as RFC 6266 / 8187 `filename*`. */
export function contentDisposition(stored: string): string {
  // Names stored before invisible characters were cleaned out go out without them too.
  const name = withoutInvisible(stored) || 'file';
  const fallback = name.replace(/[^\x20-\x7e]|["\\%]/g, '_');
  const encoded = encodeURIComponent(name).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `attachment; filename="${fallback}"; filename*=UTF-8''${encoded}`;
}
