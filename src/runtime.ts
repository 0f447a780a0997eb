import type { Config } from './config.js';
import { BlacklistCache } from './core/blacklists/blacklist-cache.js';
import { ApplicationCache } from './core/applications/application-cache.js';
import { systemClock, type Clock } from './core/clock.js';
import { SecretBox } from './core/crypto.js';
import type { CoreLimits, Deps } from './core/deps.js';
import { LicenseLookup } from './core/licenses/license-lookup.js';
import { UsageRecorder } from './core/licenses/usage-recorder.js';
import { detectSharing } from './core/sharing/detect-sharing.js';
import { createDb, type Db } from './db/client.js';
import { DatabaseAvailability } from './db/database-availability.js';
import { runMigrations } from './db/migrate.js';
import { createLogger, type Logger } from './log.js';

const DEFAULT_MAX_SYNC_GENERATE = 1000;
export const DEFAULT_MAX_BULK_GENERATE = 100_000;

export interface RuntimeOverrides {
  db?: Db;
  clock?: Clock;
  log?: Logger;
  limits?: Partial<CoreLimits>;
  /** The test suite's guard against statements on the pool inside an open transaction (db/pool-guard.ts). */
  onPoolQueryInTransaction?: (stack: string) => void;
}

/**
 * Wires the core's dependencies from configuration: the one place that knows which concrete
 * database, cache and recorder Keycord runs with. Used by `keycord start`, tests and benchmarks.
 */
export async function createDeps(config: Config, overrides: RuntimeOverrides = {}): Promise<Deps> {
  const log = overrides.log ?? createLogger(config.logLevel);
  const db =
    overrides.db ??
    (await createDb({
      databaseUrl: config.databaseUrl,
      dataDir: config.dataDir,
      poolSize: config.databasePoolSize,
      preparedStatements: config.databasePreparedStatements,
      log,
      onPoolQueryInTransaction: overrides.onPoolQueryInTransaction,
    }));
  const box = new SecretBox(config.secret);
  const deps: Deps = {
    db,
    dbAvailability: new DatabaseAvailability(() => db.query('select 1'), log),
    clock: overrides.clock ?? systemClock,
    log,
    box,
    limits: {
      sessionTtlHours: config.sessionTtlHours,
      maxApplications: config.maxApplications,
      maxLicensesPerApplication: config.maxLicensesPerApplication,
      maxSyncGenerate: DEFAULT_MAX_SYNC_GENERATE,
      maxBulkGenerate: DEFAULT_MAX_BULK_GENERATE,
      ...overrides.limits,
    },
    apps: new ApplicationCache(db, box, config.appCacheTtlMs),
    blacklists: new BlacklistCache(db),
    usage: new UsageRecorder(db, log, config.usageFlushMs),
    lookup: new LicenseLookup(db),
    webhooks: { allowPrivateUrls: config.jobs.allowPrivateWebhookUrls },
    files: { dir: config.filesDir, maxBytes: config.maxFileBytes },
  };
  // Key-sharing detection reads what each usage flush wrote, off the request path.
  deps.usage.watch((lines) => detectSharing(deps, lines).then(() => {}));
  return deps;
}

export { runMigrations };
