#!/usr/bin/env node
// `keycord start [--role api|worker|bot|all]`: runs the TypeScript sources through tsx's loader,
// in this process, so `node bin/keycord.js` is the process that receives signals (PID 1 in Docker).
import { setFlagsFromString } from 'node:v8';
import { register } from 'tsx/esm/api';

// PID 1 ignores a signal it has no handler for, and loading the sources takes a few seconds:
// until src/main.ts installs its own handlers, SIGTERM and SIGINT stop the process as anywhere else.
for (const [signal, code] of [['SIGTERM', 143], ['SIGINT', 130]]) {
  process.on(signal, () => {
    if (process.listenerCount(signal) === 1) process.exit(code);
  });
}

register();
// Loading the sources and migrating keep much alive across scavenges, and V8 answers by doubling
// its young generation up to 32 MB, resident for good though an idle server uses a few (measured:
// ~25 MB of the idle process). So it keeps its starting size while Keycord starts, and grows as
// usual (factor 2, V8's default) once Keycord serves, where the room pays for itself under load.
// Set after register(): starting a thread (tsx's loader thread) puts V8's flags back to their
// defaults. An operator who sizes the young generation in NODE_OPTIONS keeps their choice.
const youngGenerationTuned = /--(max-|min-)?semi-space/.test([...process.execArgv, process.env.NODE_OPTIONS ?? ''].join(' '));
if (!youngGenerationTuned) setFlagsFromString('--semi-space-growth-factor=1');
await import('../src/main.ts');
if (!youngGenerationTuned) setFlagsFromString('--semi-space-growth-factor=2');
