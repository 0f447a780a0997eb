import { SlashCommandBuilder } from '@discordjs/builders';
import { InteractionContextType } from 'discord-api-types/v10';
import type { Command } from '../src/discord/command.js';
import { showRedeemModal } from '../src/discord/customer-flows.js';

export const redeem: Command = {
  data: new SlashCommandBuilder().setName('redeem').setDescription('Redeem a license key to your account').setContexts(InteractionContextType.Guild),
  execute: async () => showRedeemModal(),
};
