/**
 * Discord's upload limit for a bot in a server without boosts: 10 MiB a message. Files are kept a
 * little under it, leaving room for the rest of the multipart body.
 */
export const DISCORD_UPLOAD_LIMIT = 10 * 1024 * 1024 - 64 * 1024;

export const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

/** How a file goes to Discord: as it is, gzipped, or not at all (sizes in bytes). */
export type UploadFit = { as: 'plain'; size: number } | { as: 'gzip' | 'too-large'; size: number; gzSize: number };

/**
 * The one rule for every file the bot uploads (/export's CSV, keys.txt): as it is within the
 * limit, else gzipped (keys and CSV compress to about a third), else not at all — the caller then
 * says where else to get it. `gzip` compresses the file, wherever it lives, and answers the
 * compressed size; it is called only when the file itself is too large.
 */
export async function fitUpload(size: number, gzip: () => Promise<number>, limit = DISCORD_UPLOAD_LIMIT): Promise<UploadFit> {
  if (size <= limit) return { as: 'plain', size };
  const gzSize = await gzip();
  return { as: gzSize <= limit ? 'gzip' : 'too-large', size, gzSize };
}

/** "16.0 MB (10.4 MB compressed), over Discord's 9.9 MB upload limit", for a file that cannot go. */
export const overUploadLimit = (fit: { size: number; gzSize: number }, limit = DISCORD_UPLOAD_LIMIT) => `${mb(fit.size)} (${mb(fit.gzSize)} compressed), over Discord's ${mb(limit)} upload limit`;
