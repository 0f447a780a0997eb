#!/usr/bin/env node
// `keycord start [--role api|worker|bot|all]`: runs the TypeScript sources through tsx's loader.
import { register } from 'tsx/esm/api';

register();
await import('../src/main.ts');
