#!/usr/bin/env node
// `keycord start [--role api|worker|bot|all]`: runs the TypeScript sources through tsx's loader,
// in this process, so `node bin/keycord.js` is the process that receives signals (PID 1 in Docker).
import { register } from 'tsx/esm/api';

// PID 1 ignores a signal it has no handler for, and loading the sources takes a few seconds:
// until src/main.ts installs its own handlers, SIGTERM and SIGINT stop the process as anywhere else.
for (const [signal, code] of [['SIGTERM', 143], ['SIGINT', 130]]) {
  process.on(signal, () => {
    if (process.listenerCount(signal) === 1) process.exit(code);
  });
}

register();
await import('../src/main.ts');
