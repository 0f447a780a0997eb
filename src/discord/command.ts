import { SlashCommandBuilder } from '@discordjs/builders';
import { InteractionContextType, PermissionFlagsBits, type RESTPostAPIChatInputApplicationCommandsJSONBody, type APIApplicationCommandOptionChoice } from 'discord-api-types/v10';
import type { HandlerResult, InteractionContext } from './interaction.js';

/** One slash command: its definition (built with @discordjs/builders) and its handlers. */
export interface Command {
  data: { name: string; toJSON(): RESTPostAPIChatInputApplicationCommandsJSONBody };
  execute(ctx: InteractionContext): Promise<HandlerResult>;
  autocomplete?(ctx: InteractionContext, focused: { name: string; value: string }): Promise<APIApplicationCommandOptionChoice[]>;
}

/**
 * A command members use in a server (redeem, their licenses): every member sees it.
 */
export const memberCommand = (name: string, description: string) => new SlashCommandBuilder().setName(name).setDescription(description).setContexts(InteractionContextType.Guild);

/**
 * A seller command: Discord shows it only to members with Manage Server (or Administrator) unless
 * the server's admins grant it to others (Server Settings → Integrations — the linked seller
 * role, typically). Who may run it is still checked at run time (`requireSeller`), since that
 * default is the server's to change.
 */
export const sellerCommand = (name: string, description: string) => memberCommand(name, description).setDefaultMemberPermissions(PermissionFlagsBits.ManageGuild);
