import type { Command } from '../src/discord/command.js';
import { app } from './app.js';
import { audit } from './audit.js';
import { blacklist } from './blacklist.js';
import { exportCommand } from './export.js';
import { generate } from './generate.js';
import { license } from './license.js';
import { licenses } from './licenses.js';
import { panel } from './panel.js';
import { plans } from './plans.js';
import { redeem } from './redeem.js';
import { resetHwid } from './reset-hwid.js';
import { setup } from './setup.js';
import { stats } from './stats.js';
import { user } from './user.js';
import { variable } from './variable.js';
import { webhook } from './webhook.js';

/** Every slash command, one file each; the deploy script and the interaction router read this. */
export const commands: readonly Command[] = [setup, generate, license, plans, stats, panel, blacklist, user, variable, webhook, app, audit, exportCommand, redeem, licenses, resetHwid];

export const commandsByName: ReadonlyMap<string, Command> = new Map(commands.map((c) => [c.data.name, c]));
