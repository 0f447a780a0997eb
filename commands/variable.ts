import { deleteVariable } from '../src/core/variables/delete-variable.js';
import { listVariables } from '../src/core/variables/list-variables.js';
import { getVariableByName, matchingVariables, setVariable } from '../src/core/variables/set-variable.js';
import { sellerCommand, type Command } from '../src/discord/command.js';
import { commandOptions, ephemeral, stringOption, pageOption } from '../src/discord/interaction.js';
import { sellerSession } from '../src/discord/seller.js';
import { INT4_MAX } from '../src/http/schemas.js';

/** Variables one /variable list shows: a line each with a short preview, inside a message's 2,000 characters. */
const LIST_PAGE = 10;
const PREVIEW_CHARS = 80;
/** Discord's own limit for a string option; the core bounds the value in bytes as the HTTP routes do. */
const VALUE_MAX_CHARS = 6000;

/** A value's first characters on one line, inside a code span its backticks cannot end. */
const preview = (value: string) => {
  const flat = value.replace(/\s+/g, ' ').replaceAll('`', "'");
  return `\`${flat.length > PREVIEW_CHARS ? `${flat.slice(0, PREVIEW_CHARS)}…` : flat}\``;
};

/**
 * /variable list|set|delete: the linked application's variables, through the core the HTTP
 * routes use. Every answer is ephemeral, so private values are seen by the seller alone.
 */
export const variable: Command = {
  data: sellerCommand('variable', 'Key/value settings your application reads at run time')
    .addSubcommand((s) =>
      s
        .setName('list')
        .setDescription('The variables, by name')
        .addIntegerOption((o) => o.setName('page').setDescription(`Page (${LIST_PAGE} per page)`).setMinValue(1).setMaxValue(INT4_MAX)),
    )
    .addSubcommand((s) =>
      s
        .setName('set')
        .setDescription('Create a variable, or change the one of that name')
        .addStringOption((o) => o.setName('name').setDescription('Letters, digits, _ . - (up to 64)').setRequired(true).setMaxLength(64).setAutocomplete(true))
        .addStringOption((o) => o.setName('value').setDescription('The value').setRequired(true).setMaxLength(VALUE_MAX_CHARS))
        .addStringOption((o) =>
          o
            .setName('visibility')
            .setDescription('Who may read it (a new variable is private; left out, it stays as it is)')
            .addChoices({ name: 'Public: any client with the app_id', value: 'public' }, { name: 'Private: a validating license or a user token', value: 'private' }),
        ),
    )
    .addSubcommand((s) =>
      s
        .setName('delete')
        .setDescription('Delete a variable')
        .addStringOption((o) => o.setName('name').setDescription('The variable').setRequired(true).setMaxLength(64).setAutocomplete(true)),
    ),

  async execute(ctx) {
    const { link, actor } = await sellerSession(ctx);
    const { subcommand, options } = commandOptions(ctx.interaction);
    const deps = ctx.bot.deps;
    switch (subcommand) {
      case 'list': {
        const page = pageOption(options);
        const { total, items } = await listVariables(deps, actor, link.app.id, { page, perPage: LIST_PAGE });
        if (total === 0) return ephemeral('No variables yet. Add one with /variable set.');
        const pages = Math.ceil(total / LIST_PAGE);
        const lines = items.map((v) => `\`${v.name}\` · ${v.public ? 'public' : 'private'} · ${preview(v.value)}`);
        return ephemeral([`**Variables** (${total}, page ${Math.min(page, pages)} of ${pages})`, ...lines].join('\n'));
      }
      case 'set': {
        const name = stringOption(options, 'name')?.trim();
        const value = stringOption(options, 'value');
        const visibility = stringOption(options, 'visibility');
        if (!name || value === undefined) return ephemeral('❌ Give a name and a value.');
        if (visibility !== undefined && visibility !== 'public' && visibility !== 'private') return ephemeral('❌ Visibility is public or private.');
        const { created, variable: v } = await setVariable(deps, actor, link.app.id, { name, value, public: visibility === undefined ? undefined : visibility === 'public' });
        return ephemeral(`✅ Variable \`${v.name}\` ${created ? 'created' : 'updated'} (${v.public ? 'public' : 'private'}, ${Buffer.byteLength(v.value)} bytes).`);
      }
      case 'delete': {
        const name = stringOption(options, 'name')?.trim();
        if (!name) return ephemeral('❌ Give the variable name.');
        const found = await getVariableByName(deps, actor, link.app.id, name);
        await deleteVariable(deps, actor, found.id);
        return ephemeral(`🗑️ Variable \`${found.name}\` deleted.`);
      }
      default:
        return ephemeral('❌ Unknown subcommand.');
    }
  },

  async autocomplete(ctx, focused) {
    if (focused.name !== 'name') return [];
    const { link, actor } = await sellerSession(ctx);
    const rows = await matchingVariables(ctx.bot.deps, actor, link.app.id, focused.value);
    return rows.map((r) => ({ name: `${r.name} (${r.public ? 'public' : 'private'})`, value: r.name }));
  },
};
