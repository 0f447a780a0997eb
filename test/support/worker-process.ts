/**
 * A Keycord worker in its own process (`--role worker` without the CLI around it), so a test can
 * kill it mid-job with SIGKILL and start another.
 */
import { loadConfig } from '../../src/config.js';
import { startJobSystem } from '../../src/jobs/job-system.js';
import { createDeps } from '../../src/runtime.js';

const config = loadConfig(process.env);
const deps = await createDeps(config);
await startJobSystem(deps, config, { withWorkers: true });
process.stdout.write('worker ready\n');
