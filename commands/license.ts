import type { SlashCommandSubcommandBuilder } from '@discordjs/builders';
import { roleAllows } from '../src/core/applications/access.js';
import { notFound } from '../src/core/errors.js';
import { deleteLicense } from '../src/core/licenses/delete-license.js';
import { banLicense, extendLicense, updateLicenseNotes } from '../src/core/licenses/license-actions.js';
import { toLicenseView } from '../src/core/licenses/license-view.js';
import { resetLicenseHwid } from '../src/core/licenses/reset-license-hwid.js';
import { sellerCommand, type Command } from '../src/discord/command.js';
import { commandOptions, ephemeral, numberOption, stringOption } from '../src/discord/interaction.js';
import { licenseInfoEmbed } from '../src/discord/render.js';
import { sellerLicenseSession } from '../src/discord/seller.js';

const withKey = (s: SlashCommandSubcommandBuilder) => s.addStringOption((o) => o.setName('key').setDescription('The license key').setRequired(true).setMaxLength(256));

export const license: Command = {
  data: sellerCommand('license', 'Look after one license')
    .addSubcommand((s) => withKey(s.setName('info').setDescription('Show a license')))
    .addSubcommand((s) => withKey(s.setName('delete').setDescription('Delete a license')))
    .addSubcommand((s) => withKey(s.setName('notes').setDescription('Set its notes')).addStringOption((o) => o.setName('notes').setDescription('Notes (empty clears them)').setMaxLength(1000)))
    .addSubcommand((s) => withKey(s.setName('ban').setDescription('Ban a license')).addStringOption((o) => o.setName('reason').setDescription('Why').setMaxLength(500)))
    .addSubcommand((s) =>
      withKey(s.setName('extend').setDescription('Add days')).addIntegerOption((o) => o.setName('days').setDescription('Days to add').setRequired(true).setMinValue(1).setMaxValue(36_500)),
    )
    .addSubcommand((s) => withKey(s.setName('reset-hwid').setDescription('Unbind its HWID (no cooldown for sellers)'))),

  async execute(ctx) {
    const { subcommand, options } = commandOptions(ctx.interaction);
    const key = stringOption(options, 'key');
    // The link, the linking developer's role and the license come in one query; each write below
    // then checks access again inside its own transaction, as the HTTP door's writes do.
    const { actor, role, license } = await sellerLicenseSession(ctx, key);
    if (!key) return ephemeral('❌ Give the license key.');
    if (!license) throw notFound('License');
    const { id } = license.row;
    const deps = ctx.bot.deps;
    switch (subcommand) {
      case 'info':
        // As GET /api/licenses/:id: hidden (not found) once the developer has no part in the application.
        if (!role || !roleAllows(role, 'read')) throw notFound('License');
        return ephemeral('', { embeds: [licenseInfoEmbed(toLicenseView(license.row, license.plan, deps.clock.now()))] });
      case 'delete':
        await deleteLicense(deps, actor, id);
        return ephemeral('🗑️ License deleted.');
      case 'notes':
        await updateLicenseNotes(deps, actor, id, stringOption(options, 'notes') ?? null);
        return ephemeral('📝 Notes saved.');
      case 'ban':
        await banLicense(deps, actor, id, stringOption(options, 'reason') ?? null);
        return ephemeral('⛔ License banned.');
      case 'extend': {
        const days = numberOption(options, 'days');
        if (!days || days < 1) return ephemeral('❌ days must be at least 1.');
        const l = await extendLicense(deps, actor, id, days);
        return ephemeral(`⏩ Extended by ${days} days. ${l.expires_at ? `Now expires <t:${Math.floor(new Date(l.expires_at).getTime() / 1000)}:F>.` : 'The clock starts at first use.'}`);
      }
      case 'reset-hwid':
        await resetLicenseHwid(deps, actor, id);
        return ephemeral('♻️ HWID reset; the license will bind to the next computer that uses it.');
      default:
        return ephemeral('❌ Unknown subcommand.');
    }
  },
};
