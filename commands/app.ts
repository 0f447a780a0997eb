import { applicationSettingsPatchSchema, applicationSettingsSchema, type ApplicationSettings } from '../src/core/applications/application-settings.js';
import { getApplication } from '../src/core/applications/get-application.js';
import { updateApplication } from '../src/core/applications/update-application.js';
import { getStatistics } from '../src/core/statistics/get-statistics.js';
import { sellerCommand, type Command } from '../src/discord/command.js';
import { commandOptions, ephemeral, numberOption, stringOption } from '../src/discord/interaction.js';
import { sellerSession } from '../src/discord/seller.js';

type Options = ReturnType<typeof commandOptions>['options'];

/** A boolean option's value; anything else (absent, or a malformed payload) is undefined. */
function booleanOption(options: Options, name: string): boolean | undefined {
  const o = options.get(name) as { value?: unknown } | undefined;
  return typeof o?.value === 'boolean' ? o.value : undefined;
}

/** The common settings /app settings changes; their bounds come from the core's settings schema. */
const BOOLEAN_SETTINGS = ['hwid_lock', 'require_encryption'] as const;
const INTEGER_SETTINGS = ['max_hwids', 'hwid_reset_cooldown_hours', 'rate_limit_per_minute'] as const;
const bounds = (name: (typeof INTEGER_SETTINGS)[number]) => {
  const field = applicationSettingsSchema.shape[name];
  return { min: field.minValue ?? 0, max: field.maxValue ?? Number.MAX_SAFE_INTEGER };
};

const DESCRIPTIONS: Record<(typeof BOOLEAN_SETTINGS)[number] | (typeof INTEGER_SETTINGS)[number], string> = {
  hwid_lock: 'Bind each license to the computers that use it',
  require_encryption: 'Refuse client requests without an encrypted body',
  max_hwids: 'Computers one license may bind',
  hwid_reset_cooldown_hours: 'Hours between two HWID resets by a customer',
  rate_limit_per_minute: 'Client requests per IP per minute (0 = no limit)',
};

function settingsLines(s: ApplicationSettings) {
  return [
    `Paused: ${s.paused ? '**yes** (validation answers APP_PAUSED)' : 'no'}`,
    `HWID lock: ${s.hwid_lock ? 'on' : 'off'} · max HWIDs: ${s.max_hwids} · reset cooldown: ${s.hwid_reset_cooldown_hours} h`,
    `Encrypted bodies required: ${s.require_encryption ? 'yes' : 'no'} · rate limit: ${s.rate_limit_per_minute === 0 ? 'none' : `${s.rate_limit_per_minute}/min per IP`}`,
  ];
}

/**
 * /app info|pause|resume|settings: the linked application, through the core the HTTP routes use
 * (roles, the settings schema, audit entries, the application cache). Its secret is never shown.
 */
export const app: Command = {
  data: sellerCommand('app', 'The linked application: figures, pause, settings')
    .addSubcommand((s) => s.setName('info').setDescription('Name, app_id, counts and settings'))
    .addSubcommand((s) => s.setName('pause').setDescription('Pause it: every validation answers APP_PAUSED'))
    .addSubcommand((s) => s.setName('resume').setDescription('Resume it after a pause'))
    .addSubcommand((s) => {
      s.setName('settings').setDescription('Change common settings (none given: show them)');
      for (const name of BOOLEAN_SETTINGS) s.addBooleanOption((o) => o.setName(name).setDescription(DESCRIPTIONS[name]));
      for (const name of INTEGER_SETTINGS) {
        const { min, max } = bounds(name);
        s.addIntegerOption((o) => o.setName(name).setDescription(DESCRIPTIONS[name]).setMinValue(min).setMaxValue(max));
      }
      return s;
    }),

  async execute(ctx) {
    const { link, actor } = await sellerSession(ctx);
    const { subcommand, options } = commandOptions(ctx.interaction);
    const deps = ctx.bot.deps;
    const id = link.app.id;
    switch (subcommand) {
      case 'info': {
        const [view, stats] = await Promise.all([getApplication(deps, actor, id), getStatistics(deps, actor, id)]);
        const l = stats.licenses;
        return ephemeral(
          [
            `**${view.name.replaceAll('*', '\\*')}**`,
            `app_id: \`${view.app_id}\``,
            `Licenses: ${l.total} (${l.active} active, ${l.inactive} inactive, ${l.expired} expired, ${l.banned} banned) · users: ${stats.users.total}`,
            `Validations: ${stats.validations.last_24h} today, ${stats.validations.last_7d} in 7 days`,
            ...settingsLines(view.settings),
          ].join('\n'),
        );
      }
      case 'pause':
      case 'resume': {
        const view = await updateApplication(deps, actor, id, { settings: { paused: subcommand === 'pause' } });
        return ephemeral(view.settings.paused ? '⏸️ Paused: every validation now answers APP_PAUSED. /app resume ends it.' : '▶️ Resumed: validations are answered as usual.');
      }
      case 'settings': {
        const patch: Record<string, unknown> = {};
        for (const name of BOOLEAN_SETTINGS) {
          const v = booleanOption(options, name);
          if (v !== undefined) patch[name] = v;
        }
        for (const name of INTEGER_SETTINGS) {
          // A malformed payload may carry text or a fraction: the schema refuses it below.
          const v = numberOption(options, name) ?? stringOption(options, name);
          if (v !== undefined) patch[name] = v;
        }
        if (Object.keys(patch).length === 0) {
          const view = await getApplication(deps, actor, id);
          return ephemeral(['**Settings**', ...settingsLines(view.settings)].join('\n'));
        }
        const parsed = applicationSettingsPatchSchema.safeParse(patch);
        if (!parsed.success) return ephemeral(`❌ ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`.slice(0, 1900));
        const view = await updateApplication(deps, actor, id, { settings: parsed.data });
        return ephemeral(['✅ Settings saved.', ...settingsLines(view.settings)].join('\n'));
      }
      default:
        return ephemeral('❌ Unknown subcommand.');
    }
  },
};
