/**
 * Keycord's worker role (`keycord start --role worker`: outbox relay + BullMQ workers) in a child
 * process of a benchmark, so the bench's own work (producing events, receiving webhooks) does not
 * share its event loop. Configured by the usual Keycord environment; talks to the parent over IPC.
 */
import { loadConfig } from '../../src/config.js';
import { startJobSystem } from '../../src/jobs/job-system.js';
import { createDeps } from '../../src/runtime.js';

export type WorkerMessage = { type: 'ready' } | { type: 'stopped' };
export type WorkerCommand = { type: 'stop' };

const send = (message: WorkerMessage) => process.send?.(message);

const config = loadConfig(process.env);
const deps = await createDeps(config);
const jobs = await startJobSystem(deps, config, { withWorkers: true });
send({ type: 'ready' });

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await jobs.close();
  await deps.usage.stop();
  await deps.db.close();
  send({ type: 'stopped' });
  process.disconnect?.();
};
process.on('message', (message: WorkerCommand) => {
  if (message.type === 'stop') void stop();
});
// The parent went away without a word (killed): do not linger.
process.on('disconnect', () => void stop());
