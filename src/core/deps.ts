import type { Db } from '../db/client.js';
import type { DatabaseAvailability } from '../db/database-availability.js';
import type { Logger } from '../log.js';
import type { Clock } from './clock.js';
import type { SecretBox } from './crypto.js';
import type { ApplicationCache } from './applications/application-cache.js';
import type { BlacklistCache } from './blacklists/blacklist-cache.js';
import type { UsageRecorder } from './licenses/usage-recorder.js';
import type { LicenseLookup } from './licenses/license-lookup.js';

export interface CoreLimits {
  sessionTtlHours: number;
  maxApplications: number;
  maxLicensesPerApplication: number;
  /** Largest `count` answered synchronously by /api/licenses/generate. */
  maxSyncGenerate: number;
  /** Largest `count` a background generation job takes. */
  maxBulkGenerate: number;
}

/** Everything a use case may touch, passed explicitly (DESIGN.md: `(deps, actor, input)`). */
export interface Deps {
  db: Db;
  /** Whether the database is known to be unreachable right now (requests then fail fast). */
  dbAvailability: DatabaseAvailability;
  clock: Clock;
  log: Logger;
  box: SecretBox;
  limits: CoreLimits;
  apps: ApplicationCache;
  /** Each application's blacklist, held in process (coherent through `applications.blacklist_version`). */
  blacklists: BlacklistCache;
  usage: UsageRecorder;
  lookup: LicenseLookup;
  webhooks: { allowPrivateUrls: boolean };
  /** Uploaded files: where the bytes live (by sha256) and the largest upload taken. */
  files: { dir: string; maxBytes: number };
}
