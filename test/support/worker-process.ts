/**
 * A Keycord worker in its own process (`--role worker` without the CLI around it), so a test can
 * kill it mid-job with SIGKILL and start another.
 */
import { loadConfig } from '../../src/config.js';
import { startKeycord } from '../../src/start-keycord.js';

await startKeycord(loadConfig(process.env), { role: 'worker' });
process.stdout.write('worker ready\n');
