import { startGenerationJob } from '../src/core/jobs/start-generation-job.js';
import { generateLicenses, generatesNow } from '../src/core/licenses/generate-licenses.js';
import { matchingPlans } from '../src/core/plans/list-plans.js';
import { sellerCommand, type Command } from '../src/discord/command.js';
import { answerInTime, commandOptions, deferEphemeral, ephemeral, idOption, numberOption, stringOption } from '../src/discord/interaction.js';
import { keysMessage, MAX_INLINE_KEYS } from '../src/discord/keys-message.js';
import { rowIdOf } from '../src/discord/row-id.js';
import { sellerSession } from '../src/discord/seller.js';
import { waitForGeneration } from '../src/discord/generation-progress.js';

export const generate: Command = {
  data: sellerCommand('generate', 'Generate license keys')
    .addStringOption((o) => o.setName('plan').setDescription('The plan').setRequired(true).setAutocomplete(true))
    .addIntegerOption((o) => o.setName('count').setDescription('How many keys').setRequired(true).setMinValue(1).setMaxValue(100_000))
    .addStringOption((o) => o.setName('format').setDescription('Key format').addChoices({ name: 'random (32 hex)', value: 'random' }, { name: 'custom mask', value: 'custom' }))
    .addStringOption((o) => o.setName('prefix').setDescription('Prefix, e.g. PRO-').setMaxLength(32))
    .addStringOption((o) => o.setName('custom_format').setDescription('Mask: X = A–Z/0–9, # = digit, @ = letter').setMaxLength(128))
    .addStringOption((o) => o.setName('notes').setDescription('Notes stored with the keys').setMaxLength(1000))
    .addUserOption((o) => o.setName('user').setDescription('Assign the keys to this member and DM them')),

  async execute(ctx) {
    const { link, actor } = await sellerSession(ctx);
    const { options } = commandOptions(ctx.interaction);
    const planId = rowIdOf(stringOption(options, 'plan'));
    const count = numberOption(options, 'count');
    if (planId === null) return ephemeral('❌ Pick a plan from the list.');
    if (!count || count < 1) return ephemeral('❌ count must be at least 1.');
    const user = idOption(options, 'user');
    const input = {
      plan_id: planId,
      count,
      format: (stringOption(options, 'format') === 'custom' ? 'custom' : 'random') as 'random' | 'custom',
      prefix: stringOption(options, 'prefix') ?? null,
      custom_format: stringOption(options, 'custom_format') ?? null,
      notes: stringOption(options, 'notes') ?? null,
      discord_user_id: user ?? null,
    };
    const { deps, api } = ctx.bot;
    const token = ctx.interaction.token;

    const generated = (keys: string[]) => `✅ Generated ${keys.length} key${keys.length === 1 ? '' : 's'}`;

    /** DMs the keys to the member they are assigned to; answers the line the seller's reply adds about it. */
    const dmKeys = async (member: string, keys: string[]) => {
      const dm = await keysMessage(keys, `You received ${keys.length} **${link.app.name}** license key${keys.length === 1 ? '' : 's'}:`);
      if (dm.tooLarge) return `\nAssigned to <@${member}>, but there are too many keys to send by DM: give them the keys yourself.`;
      const sent = await api.sendDm(member, { content: dm.content }, dm.files).catch((err: Error) => {
        deps.log.warn({ err: err.message, user: member }, 'DM of generated keys failed');
        return false;
      });
      return sent ? `\nAssigned to <@${member}> and sent by DM.` : `\nAssigned to <@${member}>, but their DMs are closed: give them the keys yourself.`;
    };

    /** The keys into the deferred reply (and by DM); `elsewhere` says where to get keys too many for Discord. */
    const deliver = async (keys: string[], elsewhere: string) => {
      const dmNote = user ? await dmKeys(user, keys) : '';
      const message = await keysMessage(keys, generated(keys) + dmNote, { elsewhere });
      await api.editOriginal(token, { content: message.content, allowed_mentions: { parse: [] } }, message.files);
    };
    const listedByHttp = `List them with GET /api/applications/${link.app.id}/licenses`;

    if (count <= MAX_INLINE_KEYS && !user) {
      // The keys are made within the request, so the answer waits on the application's lock; past
      // Discord's 3 s it would be lost while the keys stay made, and a seller trying again makes
      // more. Long keys (a custom mask) past a message's 2,000 characters come as keys.txt.
      const made = generateLicenses(deps, actor, input).then((rows) => {
        const keys = rows.map((l) => l.license_key);
        return keysMessage(keys, generated(keys));
      });
      return answerInTime(ctx, made);
    }
    if (generatesNow(deps, count)) {
      return deferEphemeral(async () =>
        deliver(
          (await generateLicenses(deps, actor, input)).map((l) => l.license_key),
          listedByHttp,
        ),
      );
    }
    // Validate and queue before acknowledging, so a bad request is an immediate ephemeral error.
    const job = await startGenerationJob(deps, actor, input);
    return deferEphemeral(async () => {
      const keys = await waitForGeneration(ctx, actor, job.id, (text) => api.editOriginal(token, { content: text }).then(() => {}));
      await deliver(keys, `Fetch them with GET /api/jobs/${job.id}/licenses?format=txt`);
    });
  },

  async autocomplete(ctx, focused) {
    const { link, actor } = await sellerSession(ctx);
    const plans = await matchingPlans(ctx.bot.deps, actor, link.app.id, focused.value);
    return plans.map((p) => ({ name: `${p.name} (${p.duration_days === 0 ? 'lifetime' : `${p.duration_days} days`})`.slice(0, 100), value: String(p.id) }));
  },
};
