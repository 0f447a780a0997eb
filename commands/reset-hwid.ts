import { SlashCommandBuilder } from '@discordjs/builders';
import { InteractionContextType } from 'discord-api-types/v10';
import type { Command } from '../src/discord/command.js';
import { showResetMenu } from '../src/discord/customer-flows.js';

export const resetHwid: Command = {
  data: new SlashCommandBuilder().setName('reset-hwid').setDescription('Free one of your licenses from its current computer').setContexts(InteractionContextType.Guild),
  execute: (ctx) => showResetMenu(ctx),
};
