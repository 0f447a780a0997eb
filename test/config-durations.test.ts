import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';

const base = { NODE_ENV: 'test', KEYCORD_SECRET: 'f3a9c1d27be84e05a6d9c3b1e7f20a4d' };

function refusal(env: Record<string, string>): string {
  try {
    loadConfig({ ...base, ...env });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error(`expected ${JSON.stringify(env)} to be refused`);
}

describe('duration settings', () => {
  it('refuse 0, which would run the expiry sweep back to back, naming the variable', () => {
    expect(refusal({ EXPIRY_SWEEP_EVERY: '0' })).toContain('EXPIRY_SWEEP_EVERY');
    expect(refusal({ EXPIRY_SWEEP_EVERY: '0s' })).toContain('EXPIRY_SWEEP_EVERY');
  });

  it('refuse a length no timer can hold (Node fires those after 1 ms), naming the variable', () => {
    // 2^31 ms is about 24.8 days; Node replaces a longer timer with one of 1 ms.
    for (const every of ['1000h', '2147483648', '99999999999999999999m']) {
      expect(refusal({ EXPIRY_SWEEP_EVERY: every })).toContain('EXPIRY_SWEEP_EVERY');
      expect(refusal({ JOB_RECONCILE_EVERY: every })).toContain('JOB_RECONCILE_EVERY');
    }
  });

  it('take a day at most and the documented forms', () => {
    const config = loadConfig({ ...base, EXPIRY_SWEEP_EVERY: '24h', JOB_RECONCILE_EVERY: '90s' });
    expect(config.jobs.expirySweepEveryMs).toBe(86_400_000);
    expect(config.jobs.reconcileEveryMs).toBe(90_000);
    expect(loadConfig({ ...base, EXPIRY_SWEEP_EVERY: '100ms' }).jobs.expirySweepEveryMs).toBe(100);
  });
});
