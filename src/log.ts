import { pino, type Logger } from 'pino';

export type { Logger };

/** Paths that may carry secrets; pino replaces their values before anything is written. */
const REDACT = [
  'password',
  'secret',
  'token',
  'key',
  '*.password',
  '*.secret',
  '*.token',
  '*.key',
  'req.headers.authorization',
  'req.headers.cookie',
  'req.query.Authorization',
  'headers.authorization',
  'body.password',
  'body.secret',
];

export function createLogger(level = 'info'): Logger {
  return pino({ level, redact: { paths: REDACT, censor: '[redacted]' } });
}
