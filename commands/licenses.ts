import { memberCommand, type Command } from '../src/discord/command.js';
import { showMyLicenses } from '../src/discord/customer-flows.js';

export const licenses: Command = {
  data: memberCommand('licenses', 'Your licenses'),
  execute: (ctx) => showMyLicenses(ctx),
};
