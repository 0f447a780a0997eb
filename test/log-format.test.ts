import { describe, expect, it } from 'vitest';
import { createLogger, defaultLogFormat, serverOf } from '../src/log.js';

function capture(format: 'json' | 'pretty') {
  const lines: string[] = [];
  const log = createLogger('info', { write: (line: string) => void lines.push(line) }, format);
  return { log, text: () => lines.join('') };
}

describe('log format', () => {
  it('is readable lines on a terminal and JSON everywhere else', () => {
    expect(defaultLogFormat('info', { isTTY: true })).toBe('pretty');
    expect(defaultLogFormat('info', { isTTY: false })).toBe('json');
    expect(defaultLogFormat('info', {})).toBe('json');
    // Nothing is written at all: no formatter to load.
    expect(defaultLogFormat('silent', { isTTY: true })).toBe('json');
  });

  it('on a terminal, says the level and the message in words, one entry per line, not JSON', () => {
    const { log, text } = capture('pretty');
    log.info('migration 2/6: 0001_jobs_outbox_webhooks');
    log.warn({ file: '/data/keycord-secret' }, 'KEYCORD_SECRET is not set');
    const out = text();
    expect(out).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: migration 2\/6: 0001_jobs_outbox_webhooks$/m);
    expect(out).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] WARN: KEYCORD_SECRET is not set$/m);
    expect(out).toMatch(/file: "\/data\/keycord-secret"/);
    expect(out).not.toMatch(/^\{/m);
    // Written for a file or a pipe: no colour codes.
    expect(out).not.toContain('\u001b[');
  });

  it('keeps secrets out of the readable lines as it does out of the JSON ones', () => {
    for (const format of ['pretty', 'json'] as const) {
      const { log, text } = capture(format);
      log.info({ token: 'tok-SECRET-1', headers: { authorization: 'Bearer SECRET-2' }, req: { method: 'GET', url: '/api/licenses?license_key=SECRET-3' } }, 'request');
      log.error({ err: new Error('failed for /api/auth/me?Authorization=Bearer%20SECRET-4') });
      log.info('GET /api/validate?key=SECRET-5');
      const out = text();
      expect(out, format).toContain('[redacted]');
      expect(out, format).not.toMatch(/SECRET-\d/);
    }
  });
});

describe('start-up lines naming a server', () => {
  it('say where Keycord connects, never with the password of the URL', () => {
    expect(serverOf('postgres://keycord:s3cret-pw@db.internal:5432/keycord')).toBe('db.internal:5432/keycord');
    expect(serverOf('rediss://:s3cret-pw@cache.internal:6380')).toBe('cache.internal:6380');
    expect(serverOf('not a url with s3cret-pw')).not.toContain('s3cret-pw');
    // Several Postgres hosts: all of them, still without the password.
    expect(serverOf('postgres://keycord:s3cret-pw@db1.internal:5432,db2.internal:5432/keycord')).toBe('db1.internal:5432,db2.internal:5432/keycord');
    // An unencoded @ in a password (ioredis and WHATWG URL read up to the last @): no part of it.
    expect(serverOf('redis://default:s3cr@t,pw@redis.internal:6379/0')).toBe('redis.internal:6379/0');
    for (const url of ['postgres://u:se@cret@h1,h2/db', 'postgres://u:se@cret@db.internal/keycord']) {
      expect(serverOf(url)).not.toMatch(/cret|se@/);
    }
  });
});
