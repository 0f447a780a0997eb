import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import type { MessageFile } from './discord-api.js';
import { MESSAGE_CONTENT_MAX } from './message-limits.js';
import { fitUpload, mb, overUploadLimit } from './upload-limit.js';

const gzipped = promisify(gzip);

/** Keys shown in a code block at most; more (or fewer, longer ones past 2,000 characters) come as keys.txt. */
export const MAX_INLINE_KEYS = 25;

export interface KeysMessage {
  content: string;
  files?: MessageFile[];
  /** keys.txt is past Discord's upload limit even gzipped: `content` says so and no keys go with it. */
  tooLarge?: true;
}

/**
 * Keys as one Discord message (never a public one): in a code block when the whole block fits a
 * message's 2,000 characters — a message cut to fit would drop keys — else as keys.txt, gzipped
 * past Discord's upload limit by the rule /export follows, and when even that is too large, no
 * file at all: the text says so and `elsewhere` says where the keys can be fetched instead.
 * Compression runs off the event loop (100,000 custom-mask keys are ~16 MB).
 */
export async function keysMessage(keys: string[], title: string, opts: { elsewhere?: string; limitBytes?: number } = {}): Promise<KeysMessage> {
  const block = `${title}\n\`\`\`\n${keys.join('\n')}\n\`\`\``;
  if (keys.length <= MAX_INLINE_KEYS && block.length <= MESSAGE_CONTENT_MAX) return { content: block };
  const text = Buffer.from(`${keys.join('\n')}\n`);
  let gz = Buffer.alloc(0);
  const fit = await fitUpload(text.length, async () => (gz = await gzipped(text, { level: 6 })).length, opts.limitBytes);
  if (fit.as === 'plain') return { content: `${title} (attached as keys.txt)`, files: [{ name: 'keys.txt', data: text }] };
  if (fit.as === 'gzip') {
    return {
      content: `${title} (attached as keys.txt.gz: the ${mb(fit.size)} of keys are past Discord's upload limit, so they are gzipped; open it with any archive tool, or \`gunzip\`)`,
      files: [{ name: 'keys.txt.gz', data: gz }],
    };
  }
  return { content: `${title}\n❌ Too many keys to attach: keys.txt would be ${overUploadLimit(fit, opts.limitBytes)}${opts.elsewhere ? `. ${opts.elsewhere}` : ''}.`, tooLarge: true };
}
