/** What bench/discord.ts and its server child (bench/discord-server.ts) say to each other. */

export type DiscordServerMessage = { type: 'listening'; keycordPort: number; barePort: number } | { type: 'stopped' } | { type: 'profiling' } | { type: 'profiled'; file: string };
export type DiscordParentMessage = { type: 'stop' } | { type: 'profile-start' } | { type: 'profile-stop'; file: string };

/** What both bare routes answer: an ephemeral message, as a Discord handler would. */
export const BARE_REPLY = { type: 4, data: { content: 'hello', flags: 64 } };

/** What the bare ban route answers once its transaction committed. */
export const BARE_BAN_REPLY = { type: 4, data: { content: 'License banned', flags: 64 } };
