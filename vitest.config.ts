import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    // Each file gets its own database, so files run in parallel safely.
    pool: 'forks',
    // One file more than the CPUs (vitest's default is one fewer): a test file mostly waits on
    // Postgres, Redis, local HTTP servers and timers. On this 2-CPU machine the suite took
    // 915–1,124 s one file at a time, 593 s three at a time. Capped at four: a file's harness opens
    // pools of 10 connections, some files two or three, and Postgres allows 100 by default.
    maxWorkers: Math.min(availableParallelism() + 1, 4),
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
