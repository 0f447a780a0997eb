import type { SlashCommandSubcommandBuilder } from '@discordjs/builders';
import { deleteUser, getUserByUsername, matchingUsernames, resetUserPassword } from '../src/core/users/manage-users.js';
import { sellerCommand, type Command } from '../src/discord/command.js';
import { answerInTime, commandOptions, discordTime, ephemeral, stringOption } from '../src/discord/interaction.js';
import { sellerSession } from '../src/discord/seller.js';

/** Client-sent text inside a code span: its backticks cannot end it early. */
const inlineCode = (text: string) => `\`${text.replaceAll('`', "'").slice(0, 256)}\``;

const withUsername = (s: SlashCommandSubcommandBuilder) => s.addStringOption((o) => o.setName('username').setDescription('The username').setRequired(true).setMaxLength(32).setAutocomplete(true));

/**
 * /user info|delete|reset-password: the end-user accounts (user-auth API) of the linked
 * application, through the core use cases the seller HTTP routes call (roles, audit entries).
 */
export const user: Command = {
  data: sellerCommand('user', "Look after your application's user accounts")
    .addSubcommand((s) => withUsername(s.setName('info').setDescription('Show a user account')))
    .addSubcommand((s) => withUsername(s.setName('delete').setDescription('Delete a user account (its license stays)')))
    .addSubcommand((s) => withUsername(s.setName('reset-password').setDescription('Give the user a new random password, shown to you once'))),

  async execute(ctx) {
    const { link, actor } = await sellerSession(ctx);
    const { subcommand, options } = commandOptions(ctx.interaction);
    const username = stringOption(options, 'username')?.trim();
    if (!username) return ephemeral('❌ Give the username.');
    const deps = ctx.bot.deps;
    // Looked up within the linked application only; an unknown name is "User not found".
    const found = await getUserByUsername(deps, actor, link.app.id, username);
    switch (subcommand) {
      case 'info': {
        const lines = [
          `${inlineCode(found.username)} (user #${found.id})`,
          `License: ${found.license ? `\`${found.license.license_key}\` · ${found.license.status}${found.license.expires_at ? ` · expires ${discordTime(new Date(found.license.expires_at))}` : ''}` : 'none (deleted)'}`,
          `HWID: ${found.hwid ? inlineCode(found.hwid) : 'none'}`,
          `Created: ${discordTime(new Date(found.created_at))}`,
          `Last login: ${found.last_login ? discordTime(new Date(found.last_login)) : 'never'}`,
        ];
        return ephemeral(lines.join('\n'));
      }
      case 'delete':
        await deleteUser(deps, actor, found.id);
        return ephemeral(`🗑️ User ${inlineCode(found.username)} deleted. Their license is unchanged.`);
      case 'reset-password': {
        // Argon2 may wait for a free thread, the write for a row lock, and the new password is shown
        // only in this answer: it must reach the seller even when that is past Discord's 3 s.
        const reset = resetUserPassword(deps, actor, found.id).then(({ password }) => ({
          content: `🔑 New password for ${inlineCode(found.username)} (shown only now, pass it on privately; their signed-in sessions have ended):\n\`\`\`\n${password}\n\`\`\``,
        }));
        return answerInTime(ctx, reset);
      }
      default:
        return ephemeral('❌ Unknown subcommand.');
    }
  },

  async autocomplete(ctx, focused) {
    if (focused.name !== 'username') return [];
    const { link, actor } = await sellerSession(ctx);
    const names = await matchingUsernames(ctx.bot.deps, actor, link.app.id, focused.value);
    return names.map((n) => ({ name: n, value: n }));
  },
};
