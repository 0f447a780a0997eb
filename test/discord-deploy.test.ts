import { execFile } from 'node:child_process';
import { cp, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ApplicationCommandOptionType, PermissionFlagsBits } from 'discord-api-types/v10';
import { commands } from '../commands/index.js';
import { DiscordApi } from '../src/discord/discord-api.js';
import { deployCommands } from '../src/discord/deploy.js';
import { startDiscordStub, type DiscordStub } from './support/discord-stub.js';
import { GUILD } from './support/discord-interactions.js';

const APP_ID = '800000000000000001';
const ALL = ['setup', 'generate', 'license', 'plans', 'stats', 'panel', 'blacklist', 'user', 'variable', 'webhook', 'app', 'audit', 'export', 'redeem', 'licenses', 'reset-hwid'];

type Option = { name: string; description: string; type: number; autocomplete?: boolean; options?: Option[] };
type Definition = { name: string; description: string; default_member_permissions?: string | null; options?: Option[] };

let stub: DiscordStub;
let api: DiscordApi;

beforeAll(async () => {
  stub = await startDiscordStub();
  api = new DiscordApi(APP_ID, { apiUrl: stub.apiUrl, token: 'test-bot-token-0123456789' });
});
beforeEach(() => stub.clear());
afterAll(() => stub?.close());

const deployed = async (guildId?: string) => {
  await deployCommands(api, guildId);
  expect(stub.calls).toHaveLength(1);
  return stub.calls[0]!;
};

describe('deploying the slash commands', () => {
  it('PUTs every command to the guild when a guild id is given', async () => {
    const call = await deployed(GUILD);
    expect(call.method).toBe('PUT');
    expect(call.path).toBe(`/applications/${APP_ID}/guilds/${GUILD}/commands`);
    expect(call.headers.authorization).toBe('Bot test-bot-token-0123456789');
    expect((call.json as Definition[]).map((c) => c.name).sort()).toEqual([...ALL].sort());
  });

  it('PUTs them globally without a guild id', async () => {
    const call = await deployed();
    expect(call.method).toBe('PUT');
    expect(call.path).toBe(`/applications/${APP_ID}/commands`);
    expect((call.json as Definition[]).map((c) => c.name).sort()).toEqual([...ALL].sort());
  });

  it('sends the same list the router reads, each a valid definition with a name and description', async () => {
    const sent = (await deployed(GUILD)).json as Definition[];
    expect(sent).toEqual(JSON.parse(JSON.stringify(commands.map((c) => c.data.toJSON()))));
    const check = (o: { name: string; description: string; options?: Option[] }) => {
      // Discord's rules: lower-case names of 1–32 characters, descriptions of 1–100.
      expect(o.name).toMatch(/^[-_\p{Ll}\p{N}]{1,32}$/u);
      expect(o.description.length).toBeGreaterThan(0);
      expect(o.description.length).toBeLessThanOrEqual(100);
      for (const inner of o.options ?? []) check(inner);
    };
    for (const c of sent) check(c);
  });

  it('lets only Manage Server see /setup by default, and never asks for the API key as an option', async () => {
    const setup = ((await deployed(GUILD)).json as Definition[]).find((c) => c.name === 'setup')!;
    expect(setup.default_member_permissions).toBe(String(PermissionFlagsBits.ManageGuild));
    const names = (setup.options ?? []).map((o) => o.name);
    expect(names).toEqual(expect.arrayContaining(['seller_role', 'log_channel']));
    expect(names.some((n) => /key|token|secret/i.test(n))).toBe(false);
  });

  it('shows seller commands to Manage Server by default and member commands to everyone', async () => {
    const sent = (await deployed(GUILD)).json as Definition[];
    const visibility = Object.fromEntries(sent.map((c) => [c.name, c.default_member_permissions ?? null]));
    const manageServer = String(PermissionFlagsBits.ManageGuild);
    expect(visibility).toEqual({
      setup: manageServer,
      generate: manageServer,
      license: manageServer,
      plans: manageServer,
      stats: manageServer,
      panel: manageServer,
      blacklist: manageServer,
      user: manageServer,
      variable: manageServer,
      webhook: manageServer,
      app: manageServer,
      audit: manageServer,
      export: manageServer,
      redeem: null,
      licenses: null,
      'reset-hwid': null,
    });
  });

  it('offers autocomplete for the plan of /generate', async () => {
    const generate = ((await deployed(GUILD)).json as Definition[]).find((c) => c.name === 'generate')!;
    const plan = generate.options!.find((o) => o.name === 'plan')!;
    expect(plan.autocomplete).toBe(true);
    expect(generate.options!.find((o) => o.name === 'count')).toMatchObject({ type: ApplicationCommandOptionType.Integer, required: true });
    expect(generate.options!.find((o) => o.name === 'user')).toMatchObject({ type: ApplicationCommandOptionType.User });
  });

  it('gives /license its subcommands: seven on one key (autocompleted), search and bulk by filter', async () => {
    const license = ((await deployed(GUILD)).json as Definition[]).find((c) => c.name === 'license')!;
    const subs = license.options!;
    expect(subs.map((s) => s.name)).toEqual(['info', 'delete', 'notes', 'ban', 'extend', 'reset-hwid', 'unban', 'search', 'bulk']);
    for (const s of subs) expect(s.type).toBe(ApplicationCommandOptionType.Subcommand);
    for (const s of subs.slice(0, 7)) expect(s.options!.find((o) => o.name === 'key')).toMatchObject({ required: true, autocomplete: true });
    for (const s of subs.slice(7)) {
      expect(s.options!.map((o) => o.name)).toEqual(expect.arrayContaining(['status', 'plan', 'search', 'user']));
      expect(s.options!.find((o) => o.name === 'plan')).toMatchObject({ autocomplete: true });
    }
    expect(subs.find((s) => s.name === 'bulk')!.options![0]).toMatchObject({ name: 'action', required: true });
  });
});

describe('npm run discord:deploy', () => {
  const root = resolve(import.meta.dirname, '..');
  let dir: string;
  afterAll(() => (dir ? rm(dir, { recursive: true, force: true }) : undefined));

  it('registers the commands when run from a path with spaces, and takes an empty DISCORD_GUILD_ID= in .env as unset', async () => {
    // The script used to compare its own URL with `file://` + its path: with a space in the path
    // (%20 in the URL) nothing matched and it exited 0 having registered nothing.
    dir = await mkdtemp(join(tmpdir(), 'keycord deploy '));
    for (const entry of ['src', 'commands', 'package.json', 'tsconfig.json']) await cp(join(root, entry), join(dir, entry), { recursive: true });
    await symlink(join(root, 'node_modules'), join(dir, 'node_modules'), 'dir');
    await writeFile(join(dir, '.env'), 'DISCORD_GUILD_ID=\n');
    const { stdout } = await promisify(execFile)(process.execPath, [join(root, 'node_modules', 'tsx', 'dist', 'cli.mjs'), join(dir, 'src', 'discord', 'deploy.ts')], {
      cwd: dir,
      env: { PATH: process.env.PATH, DISCORD_TOKEN: 'test-bot-token-0123456789', DISCORD_APPLICATION_ID: APP_ID, DISCORD_API_URL: stub.apiUrl, DATA_DIR: join(dir, 'data') },
      timeout: 60_000,
    });
    expect(stdout).toContain(`Registered ${ALL.length} commands globally`);
    expect(stub.calls).toHaveLength(1);
    expect(stub.calls[0]!.path).toBe(`/applications/${APP_ID}/commands`);
  }, 90_000);
});
