import { memberCommand, type Command } from '../src/discord/command.js';
import { showResetMenu } from '../src/discord/customer-flows.js';

export const resetHwid: Command = {
  data: memberCommand('reset-hwid', 'Free one of your licenses from its current computer'),
  execute: (ctx) => showResetMenu(ctx),
};
