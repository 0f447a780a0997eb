/** Discord refuses a message whose content is longer than this (the whole reply or edit fails). */
export const MESSAGE_CONTENT_MAX = 2000;
const CUT_NOTE = '\n… (cut to fit a Discord message: narrow the list or ask for another page)';

/**
 * A message's text within Discord's limit, whatever a list put in it: cut at the last whole line
 * that fits, saying so. Replies (`ephemeral`) and every message the bot sends through DiscordApi
 * go through here, so no command has to count characters to avoid a message Discord rejects.
 */
export function fitContent(content: string): string {
  if (content.length <= MESSAGE_CONTENT_MAX) return content;
  const room = MESSAGE_CONTENT_MAX - CUT_NOTE.length;
  const lineEnd = content.lastIndexOf('\n', room);
  return `${content.slice(0, lineEnd > 0 ? lineEnd : room)}${CUT_NOTE}`;
}

/** The same body with its `content`, if any, fitted. */
export function withFittedContent<T extends { content?: string | null | undefined }>(body: T): T {
  return typeof body.content === 'string' && body.content.length > MESSAGE_CONTENT_MAX ? { ...body, content: fitContent(body.content) } : body;
}

/**
 * Text cut to `max` characters, an ellipsis ending a cut one. Listed pages cut each line so N
 * lines under a short header always fit a message: `fitContent` would otherwise drop entries
 * that the next page does not show either.
 */
export const ellipsize = (text: string, max: number) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);
