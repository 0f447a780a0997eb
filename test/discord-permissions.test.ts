import { PermissionsBitField } from 'discord.js';
import { PermissionFlagsBits } from 'discord-api-types/v10';
import { describe, expect, it } from 'vitest';
import { canManageServer, type InteractionContext } from '../src/discord/interaction.js';

/**
 * Keycord checks a member's permissions without loading discord.js (HTTP interactions never load
 * it: ~30 MB). Its rule must be discord.js's own: PermissionsBitField.has, Administrator implying
 * every permission. Compared here bit for bit over every single flag and random sets of them.
 */
const asContext = (permissions: bigint) => ({ permissions }) as InteractionContext;

describe('the Manage Server check', () => {
  const flags = Object.values(PermissionFlagsBits);
  const randomSet = (seed: number) => flags.reduce((bits, flag, i) => ((seed * 2654435761 + i * 40503) % 7 < 3 ? bits | flag : bits), 0n);

  it('agrees with discord.js PermissionsBitField.has(ManageGuild) for every single flag and 500 random sets', () => {
    const sets = [0n, ...flags, ...Array.from({ length: 500 }, (_, i) => randomSet(i + 1))];
    for (const bits of sets) {
      expect(canManageServer(asContext(bits)), bits.toString(2)).toBe(new PermissionsBitField(bits).has(PermissionFlagsBits.ManageGuild));
    }
  });

  it('counts Administrator as Manage Server, and nothing else short of Manage Server itself', () => {
    expect(canManageServer(asContext(PermissionFlagsBits.Administrator))).toBe(true);
    expect(canManageServer(asContext(PermissionFlagsBits.ManageGuild))).toBe(true);
    expect(canManageServer(asContext(PermissionFlagsBits.BanMembers | PermissionFlagsBits.ManageChannels | PermissionFlagsBits.ManageRoles))).toBe(false);
  });
});
