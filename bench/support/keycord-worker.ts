/**
 * Keycord's worker role (`keycord start --role worker`: outbox relay + BullMQ workers) in a child
 * process of a benchmark, so the bench's own work (producing events, receiving webhooks) does not
 * share its event loop. Configured by the usual Keycord environment; talks to the parent over IPC.
 */
import { loadConfig } from '../../src/config.js';
import { startKeycord } from '../../src/start-keycord.js';

export type WorkerMessage = { type: 'ready' } | { type: 'stopped' };
export type WorkerCommand = { type: 'stop' };

const send = (message: WorkerMessage) => process.send?.(message);

const keycord = await startKeycord(loadConfig(process.env), { role: 'worker' });
send({ type: 'ready' });

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await keycord.close();
  send({ type: 'stopped' });
  process.disconnect?.();
};
process.on('message', (message: WorkerCommand) => {
  if (message.type === 'stop') void stop();
});
// The parent went away without a word (killed): do not linger.
process.on('disconnect', () => void stop());
