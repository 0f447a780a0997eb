import { SlashCommandBuilder } from '@discordjs/builders';
import { InteractionContextType } from 'discord-api-types/v10';
import type { Command } from '../src/discord/command.js';
import { showMyLicenses } from '../src/discord/customer-flows.js';

export const licenses: Command = {
  data: new SlashCommandBuilder().setName('licenses').setDescription('Your licenses').setContexts(InteractionContextType.Guild),
  execute: (ctx) => showMyLicenses(ctx),
};
