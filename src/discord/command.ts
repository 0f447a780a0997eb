import type { RESTPostAPIChatInputApplicationCommandsJSONBody, APIApplicationCommandOptionChoice } from 'discord-api-types/v10';
import type { HandlerResult, InteractionContext } from './interaction.js';

/** One slash command: its definition (built with @discordjs/builders) and its handlers. */
export interface Command {
  data: { name: string; toJSON(): RESTPostAPIChatInputApplicationCommandsJSONBody };
  execute(ctx: InteractionContext): Promise<HandlerResult>;
  autocomplete?(ctx: InteractionContext, focused: { name: string; value: string }): Promise<APIApplicationCommandOptionChoice[]>;
}
