import { memberCommand, type Command } from '../src/discord/command.js';
import { showRedeemModal } from '../src/discord/customer-flows.js';

export const redeem: Command = {
  data: memberCommand('redeem', 'Redeem a license key to your account'),
  execute: async () => showRedeemModal(),
};
