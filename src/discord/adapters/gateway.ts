import { Client, GatewayIntentBits } from 'discord.js';
import type { APIInteraction } from 'discord-api-types/v10';
import type { Logger } from '../../log.js';
import type { DiscordBot } from '../bot.js';

/**
 * The gateway door: discord.js keeps the websocket, and each raw INTERACTION_CREATE payload goes
 * to the same handlers as the HTTP door. The first response goes back through the interaction
 * callback endpoint, follow-ups through the interaction webhook.
 */
export class GatewayAdapter {
  private client: Client | undefined;

  constructor(
    private readonly bot: DiscordBot,
    private readonly log: Logger,
  ) {}

  /** One raw gateway dispatch, as discord.js emits it on 'raw'. */
  async onRaw(packet: { t?: string | null; d?: unknown }): Promise<void> {
    if (packet.t !== 'INTERACTION_CREATE' || !packet.d || typeof packet.d !== 'object') return;
    const interaction = packet.d as APIInteraction;
    if (typeof interaction.id !== 'string' || typeof interaction.token !== 'string') {
      this.log.warn('ignored a malformed INTERACTION_CREATE');
      return;
    }
    const result = await this.bot.handle(interaction);
    try {
      await this.bot.context.api.respond(interaction.id, interaction.token, result.response);
    } catch (err) {
      this.log.warn({ err: (err as Error).message, interaction: interaction.id }, 'could not answer an interaction');
      return;
    }
    this.bot.runAfter(result, interaction.token);
  }

  async start(token: string, apiUrl: string): Promise<void> {
    this.client = new Client({ intents: [GatewayIntentBits.Guilds], rest: { api: apiUrl } });
    this.client.on('raw', (packet: { t?: string | null; d?: unknown }) => void this.onRaw(packet).catch((err: Error) => this.log.error({ err }, 'gateway interaction failed')));
    this.client.once('clientReady', (c) => this.log.info({ user: c.user.tag }, 'Discord gateway connected'));
    this.client.on('error', (err) => this.log.warn({ err: err.message }, 'Discord gateway error'));
    await this.client.login(token);
  }

  async stop(): Promise<void> {
    await this.client?.destroy();
  }
}
