import { sql } from 'drizzle-orm';
import { bigint, bigserial, boolean, check, cidr, date, index, integer, jsonb, pgTable, primaryKey, serial, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';

const createdAt = () => timestamp('created_at', { withTimezone: true }).notNull().defaultNow();
/** Most tables belong to one application and go with it. */
const applicationRef = () =>
  integer('application_id')
    .notNull()
    .references(() => applications.id, { onDelete: 'cascade' });
const updatedAt = () => timestamp('updated_at', { withTimezone: true }).notNull().defaultNow();

export const developers = pgTable(
  'developers',
  {
    id: serial('id').primaryKey(),
    email: text('email').notNull(),
    username: text('username').notNull(),
    passwordHash: text('password_hash').notNull(),
    createdAt: createdAt(),
  },
  (t) => [uniqueIndex('developers_email_key').on(sql`lower(${t.email})`), uniqueIndex('developers_username_key').on(sql`lower(${t.username})`)],
);

/** Login sessions and API keys. Only a SHA-256 of the token is kept. */
export const developerTokens = pgTable(
  'developer_tokens',
  {
    id: serial('id').primaryKey(),
    developerId: integer('developer_id')
      .notNull()
      .references(() => developers.id, { onDelete: 'cascade' }),
    kind: text('kind', { enum: ['session', 'api_key'] }).notNull(),
    name: text('name'),
    tokenHash: text('token_hash').notNull(),
    /** The first characters of the token, so a seller can tell keys apart in a list. */
    hint: text('hint').notNull(),
    createdAt: createdAt(),
    expiresAt: timestamp('expires_at', { withTimezone: true }),
    lastUsedAt: timestamp('last_used_at', { withTimezone: true }),
  },
  (t) => [uniqueIndex('developer_tokens_hash_key').on(t.tokenHash), index('developer_tokens_developer_idx').on(t.developerId, t.kind)],
);

export const applications = pgTable(
  'applications',
  {
    id: serial('id').primaryKey(),
    appId: uuid('app_id').notNull(),
    ownerId: integer('owner_id')
      .notNull()
      .references(() => developers.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    description: text('description'),
    /** The client secret, encrypted with KEYCORD_SECRET: the encrypted body scheme needs it back. */
    secretEnc: text('secret_enc').notNull(),
    publicKey: text('public_key').notNull(),
    privateKeyEnc: text('private_key_enc').notNull(),
    settings: jsonb('settings').notNull().$type<Record<string, unknown>>(),
    /**
     * Bumped by every blacklist change. The client path reads it with the application (cached for
     * APP_CACHE_TTL_MS) and reloads its in-process copy of the blacklist when it moved.
     */
    blacklistVersion: integer('blacklist_version').notNull().default(0),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [uniqueIndex('applications_app_id_key').on(t.appId), index('applications_owner_idx').on(t.ownerId)],
);

/**
 * Who may act on an application and how. The owner has a row too, so every access check is one
 * lookup whatever the role.
 */
export const applicationMembers = pgTable(
  'application_members',
  {
    applicationId: applicationRef(),
    developerId: integer('developer_id')
      .notNull()
      .references(() => developers.id, { onDelete: 'cascade' }),
    role: text('role', { enum: ['owner', 'admin', 'manager', 'viewer'] }).notNull(),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.applicationId, t.developerId] }), index('application_members_developer_idx').on(t.developerId)],
);

export const plans = pgTable(
  'plans',
  {
    id: serial('id').primaryKey(),
    applicationId: applicationRef(),
    name: text('name').notNull(),
    durationDays: integer('duration_days').notNull(),
    maxHwids: integer('max_hwids'),
    hwidResetCooldownHours: integer('hwid_reset_cooldown_hours'),
    discordRoleId: text('discord_role_id'),
    /** Key-sharing thresholds for this plan's licenses, replacing the application's; null = the application's. */
    sharing: jsonb('sharing').$type<Record<string, unknown>>(),
    /** Floating seats: HWIDs that may run at once, replacing the application's setting; null = the application's. */
    maxConcurrent: integer('max_concurrent'),
    /** Seconds between a client's heartbeats, replacing the application's setting; null = the application's. */
    heartbeatIntervalS: integer('heartbeat_interval_s'),
    /** Longest offline lease (hours) for this plan's licenses, replacing the application's setting; 0 = leases off; null = the application's. */
    maxOfflineHours: integer('max_offline_hours'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [index('plans_application_idx').on(t.applicationId), check('plans_max_offline_hours_check', sql`${t.maxOfflineHours} is null or ${t.maxOfflineHours} between 0 and 8760`)],
);

export const LICENSE_STATUSES = ['inactive', 'active', 'expired', 'banned'] as const;
export type LicenseStatus = (typeof LICENSE_STATUSES)[number];

/**
 * Stored at fillfactor 70 (migration 0019; drizzle has no table storage options): the usage flush
 * rewrites a license's `last_used` and `ip_address` all day, and with room on the page that is a
 * heap-only update that writes none of the ten indexes below.
 */
export const licenses = pgTable(
  'licenses',
  {
    id: serial('id').primaryKey(),
    applicationId: applicationRef(),
    planId: integer('plan_id')
      .notNull()
      .references(() => plans.id, { onDelete: 'cascade' }),
    licenseKey: text('license_key').notNull(),
    status: text('status', { enum: LICENSE_STATUSES }).notNull().default('inactive'),
    /**
     * Days granted, copied from the plan when the key is made: the clock starts at first
     * activation, and `extend` on a never-activated key adds here. 0 = lifetime.
     */
    durationDays: integer('duration_days').notNull(),
    hwids: text('hwids').array().notNull().default(sql`'{}'::text[]`),
    activatedAt: timestamp('activated_at', { withTimezone: true }),
    expiresAt: timestamp('expires_at', { withTimezone: true }),
    ipAddress: text('ip_address'),
    lastUsed: timestamp('last_used', { withTimezone: true }),
    notes: text('notes'),
    discordUserId: text('discord_user_id'),
    banReason: text('ban_reason'),
    lastHwidResetAt: timestamp('last_hwid_reset_at', { withTimezone: true }),
    /** The bulk generation job that made this key, if any: resume counts and export read it. */
    jobId: integer('job_id').references(() => jobs.id, { onDelete: 'set null' }),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    index('licenses_job_idx').on(t.jobId),
    index('licenses_expiry_idx').on(t.expiresAt).where(sql`status in ('active', 'expired')`),
    uniqueIndex('licenses_application_key_key').on(t.applicationId, t.licenseKey),
    index('licenses_application_status_idx').on(t.applicationId, t.status),
    index('licenses_plan_idx').on(t.planId),
    index('licenses_discord_user_idx').on(t.applicationId, t.discordUserId),
    // Pages of an application's licenses, newest first: an index-only walk, whatever the page.
    index('licenses_application_id_idx').on(t.applicationId, t.id),
    // The list's `search` (key or notes containing a text, case-insensitive: /license search, the
    // export, bulk actions): trigram indexes (pg_trgm) answer `ilike '%…%'` without reading every
    // license of the application.
    index('licenses_key_trgm_idx').using('gin', sql`${t.licenseKey} gin_trgm_ops`),
    index('licenses_notes_trgm_idx').using('gin', sql`${t.notes} gin_trgm_ops`),
    check('licenses_status_check', sql`${t.status} in ('inactive', 'active', 'expired', 'banned')`),
  ],
);

/**
 * Licenses per application, kept by statement-level triggers on `licenses` (migration
 * 0006_list_paging), so a list's X-Total-Count is one row read rather than a count of the
 * application. No row = no licenses.
 */
export const licenseCounts = pgTable('license_counts', {
  applicationId: integer('application_id')
    .primaryKey()
    .references(() => applications.id, { onDelete: 'cascade' }),
  licenses: bigint('licenses', { mode: 'number' }).notNull().default(0),
});

/** Append-only record of every change, whoever made it. */
export const auditLogs = pgTable(
  'audit_logs',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    applicationId: integer('application_id').references(() => applications.id, { onDelete: 'set null' }),
    actorKind: text('actor_kind', { enum: ['developer', 'discord', 'client', 'system'] }).notNull(),
    actorId: text('actor_id'),
    actorName: text('actor_name'),
    action: text('action').notNull(),
    target: text('target'),
    details: jsonb('details').$type<Record<string, unknown>>(),
    ip: text('ip'),
    createdAt: createdAt(),
  },
  (t) => [index('audit_logs_application_idx').on(t.applicationId, t.createdAt), index('audit_logs_application_id_idx').on(t.applicationId, t.id)],
);

/** Daily per-application counters, fed by the batched usage recorder rather than per request. */
export const dailyCounters = pgTable(
  'daily_counters',
  {
    applicationId: applicationRef(),
    day: date('day', { mode: 'string' }).notNull(),
    validations: integer('validations').notNull().default(0),
    failures: integer('failures').notNull().default(0),
    generated: integer('generated').notNull().default(0),
  },
  (t) => [primaryKey({ columns: [t.applicationId, t.day] })],
);

/** Stored first responses of create requests carrying an Idempotency-Key. */
export const idempotencyKeys = pgTable(
  'idempotency_keys',
  {
    developerId: integer('developer_id')
      .notNull()
      .references(() => developers.id, { onDelete: 'cascade' }),
    key: text('key').notNull(),
    route: text('route').notNull(),
    requestHash: text('request_hash').notNull(),
    /** null while the first request is still running. */
    statusCode: integer('status_code'),
    responseBody: text('response_body'),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.developerId, t.key] }), index('idempotency_keys_created_idx').on(t.createdAt)],
);

/** `pending`: a bulk action waiting for its seller's confirmation (never run until confirmed). */
export const JOB_STATUSES = ['pending', 'queued', 'running', 'completed', 'failed'] as const;

/**
 * Long-running work a seller asked for (bulk generation, bulk license actions); progress lives
 * here, not in Redis. `count` is the work asked for, `generated` how much of it is done.
 */
export const jobs = pgTable(
  'jobs',
  {
    id: serial('id').primaryKey(),
    applicationId: applicationRef(),
    type: text('type', { enum: ['generate_licenses', 'bulk_licenses'] }).notNull(),
    status: text('status', { enum: JOB_STATUSES }).notNull().default('queued'),
    count: integer('count').notNull(),
    generated: integer('generated').notNull().default(0),
    params: jsonb('params').notNull().$type<Record<string, unknown>>(),
    error: text('error'),
    actor: jsonb('actor').notNull().$type<Record<string, unknown>>(),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
    completedAt: timestamp('completed_at', { withTimezone: true }),
  },
  (t) => [index('jobs_application_idx').on(t.applicationId)],
);

/**
 * Events and commands written in the same transaction as the change that causes them. The relay
 * moves them to BullMQ; a Redis outage delays them, never loses them.
 */
export const outbox = pgTable(
  'outbox',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    applicationId: integer('application_id').references(() => applications.id, { onDelete: 'cascade' }),
    /** 'event' rows fan out to webhooks and Discord; 'command' rows start a job. */
    kind: text('kind', { enum: ['event', 'command'] }).notNull(),
    type: text('type').notNull(),
    payload: jsonb('payload').notNull().$type<Record<string, unknown>>(),
    createdAt: createdAt(),
    relayedAt: timestamp('relayed_at', { withTimezone: true }),
    /** Set when an event's fan-out ran: a relayed event without it whose job Redis lost is relayed again. */
    dispatchedAt: timestamp('dispatched_at', { withTimezone: true }),
  },
  (t) => [index('outbox_pending_idx').on(t.id).where(sql`relayed_at is null`), index('outbox_undispatched_idx').on(t.id).where(sql`kind = 'event' and dispatched_at is null`)],
);

/**
 * This database's identity, made once (one row). Queue prefixes and job ids carry it, so two
 * installations sharing a Redis, or one whose database was recreated, never mistake each other's
 * jobs for their own.
 */
export const installation = pgTable(
  'installation',
  {
    singleton: boolean('singleton').primaryKey().default(true),
    id: text('id').notNull(),
    createdAt: createdAt(),
  },
  (t) => [check('installation_singleton', sql`${t.singleton}`)],
);

export const webhooks = pgTable(
  'webhooks',
  {
    id: serial('id').primaryKey(),
    applicationId: applicationRef(),
    url: text('url').notNull(),
    events: text('events').array().notNull(),
    active: boolean('active').notNull().default(true),
    /** HMAC key, encrypted with KEYCORD_SECRET (it must be recovered to sign). */
    secretEnc: text('secret_enc').notNull(),
    /** When the log channels were last told a delivery of it failed for good (at most once an hour). */
    failingAlertedAt: timestamp('failing_alerted_at', { withTimezone: true }),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [index('webhooks_application_idx').on(t.applicationId)],
);

export const DELIVERY_STATUSES = ['pending', 'delivered', 'failed'] as const;

/** One event to one webhook; its id is the stable `X-Keycord-Delivery`. */
export const webhookDeliveries = pgTable(
  'webhook_deliveries',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    webhookId: integer('webhook_id')
      .notNull()
      .references(() => webhooks.id, { onDelete: 'cascade' }),
    eventId: bigint('event_id', { mode: 'number' }).notNull(),
    eventType: text('event_type').notNull(),
    body: text('body').notNull(),
    status: text('status', { enum: DELIVERY_STATUSES }).notNull().default('pending'),
    attempts: integer('attempts').notNull().default(0),
    lastStatusCode: integer('last_status_code'),
    createdAt: createdAt(),
    deliveredAt: timestamp('delivered_at', { withTimezone: true }),
    /** Held by the dispatch making its first attempt (set by the fan-out, cleared by a recorded attempt); the reconciler leaves it until then. */
    sendingUntil: timestamp('sending_until', { withTimezone: true }),
  },
  (t) => [
    uniqueIndex('webhook_deliveries_event_key').on(t.webhookId, t.eventId),
    index('webhook_deliveries_webhook_idx').on(t.webhookId, t.id),
    index('webhook_deliveries_pending_idx').on(t.id).where(sql`status = 'pending'`),
  ],
);

export const webhookAttempts = pgTable(
  'webhook_attempts',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    deliveryId: bigint('delivery_id', { mode: 'number' })
      .notNull()
      .references(() => webhookDeliveries.id, { onDelete: 'cascade' }),
    statusCode: integer('status_code'),
    durationMs: integer('duration_ms').notNull(),
    responseBody: text('response_body'),
    error: text('error'),
    createdAt: createdAt(),
  },
  (t) => [index('webhook_attempts_delivery_idx').on(t.deliveryId)],
);

/**
 * Expiry notices already sent: one row per license, kind and expiry date, so every notice is
 * emitted exactly once however many sweeps run, crash or overlap.
 */
export const licenseNotices = pgTable(
  'license_notices',
  {
    licenseId: integer('license_id')
      .notNull()
      .references(() => licenses.id, { onDelete: 'cascade' }),
    kind: text('kind').notNull(),
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.licenseId, t.kind, t.expiresAt] })],
);

/**
 * A Discord server linked to an application by /setup. Seller commands there act with the rights
 * of the developer whose API key linked it; revoking that key unlinks the server (cascade).
 */
export const discordGuilds = pgTable(
  'discord_guilds',
  {
    guildId: text('guild_id').primaryKey(),
    applicationId: applicationRef(),
    developerId: integer('developer_id')
      .notNull()
      .references(() => developers.id, { onDelete: 'cascade' }),
    apiKeyId: integer('api_key_id')
      .notNull()
      .references(() => developerTokens.id, { onDelete: 'cascade' }),
    sellerRoleId: text('seller_role_id'),
    logChannelId: text('log_channel_id'),
    linkedBy: text('linked_by').notNull(),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [index('discord_guilds_application_idx').on(t.applicationId)],
);

/** End users of an application (user-auth API): registered with a license, bound to a HWID. */
export const appUsers = pgTable(
  'app_users',
  {
    id: serial('id').primaryKey(),
    applicationId: applicationRef(),
    licenseId: integer('license_id').references(() => licenses.id, { onDelete: 'set null' }),
    username: text('username').notNull(),
    passwordHash: text('password_hash').notNull(),
    hwid: text('hwid'),
    createdAt: createdAt(),
    lastLogin: timestamp('last_login', { withTimezone: true }),
  },
  (t) => [uniqueIndex('app_users_username_key').on(t.applicationId, sql`lower(${t.username})`), index('app_users_license_idx').on(t.licenseId)],
);

export const variables = pgTable(
  'variables',
  {
    id: serial('id').primaryKey(),
    applicationId: applicationRef(),
    name: text('name').notNull(),
    value: text('value').notNull(),
    public: boolean('public').notNull().default(false),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [uniqueIndex('variables_name_key').on(t.applicationId, t.name)],
);

/** Files for customers; the bytes live under DATA_DIR/files by content hash. */
export const files = pgTable(
  'files',
  {
    id: serial('id').primaryKey(),
    applicationId: applicationRef(),
    name: text('name').notNull(),
    size: bigint('size', { mode: 'number' }).notNull(),
    sha256: text('sha256').notNull(),
    contentType: text('content_type').notNull(),
    createdAt: createdAt(),
  },
  (t) => [index('files_application_idx').on(t.applicationId), index('files_sha256_idx').on(t.sha256)],
);

/** Client validation outcomes, written in batches by the usage recorder (never per request). */
export const validationLogs = pgTable(
  'validation_logs',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    // No foreign key: its check was a trigger per inserted line (7.5 of the 19 µs each line cost).
    // The usage flush locks each application of its batch once instead, and a trigger on
    // applications deletes an application's lines with it (migration 0018).
    applicationId: integer('application_id').notNull(),
    licenseId: integer('license_id'),
    code: text('code').notNull(),
    hwid: text('hwid'),
    ip: text('ip'),
    /** Identical validations (same license, code, HWID and IP) within one flush are one row. */
    count: integer('count').notNull().default(1),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
  },
  (t) => [
    index('validation_logs_application_idx').on(t.applicationId, t.createdAt),
    index('validation_logs_application_id_idx').on(t.applicationId, t.id),
    // Key-sharing detection counts one license's IPs and HWID mismatches in a window.
    index('validation_logs_license_idx').on(t.licenseId, t.createdAt).where(sql`license_id is not null`),
  ],
);

/**
 * HWIDs and addresses an application refuses on its client routes. `value` is the normalized text
 * (an address, or `network/prefix` for a range); `network` keeps an `ip` entry as a Postgres
 * `cidr`, so the database itself rejects a malformed range and SQL can match addresses with `>>=`.
 */
export const blacklistEntries = pgTable(
  'blacklist_entries',
  {
    id: serial('id').primaryKey(),
    applicationId: applicationRef(),
    type: text('type', { enum: ['hwid', 'ip'] }).notNull(),
    value: text('value').notNull(),
    network: cidr('network'),
    reason: text('reason'),
    createdAt: createdAt(),
  },
  (t) => [uniqueIndex('blacklist_entries_value_key').on(t.applicationId, t.type, t.value), check('blacklist_entries_network_check', sql`(${t.type} = 'ip') = (${t.network} is not null)`)],
);

export const SHARING_WINDOW_KINDS = ['ips_24h', 'hwid_mismatches_1h'] as const;
export const SHARING_FLAG_STATUSES = ['open', 'banned', 'hwid_reset', 'ignored'] as const;

/**
 * Licenses key-sharing detection flagged: one row per license, window kind and window start, so
 * the event, the alert and the ban happen once per window however many processes flush usage.
 * `status` follows what was done about it (the automatic ban, or a seller's button).
 */
export const sharingFlags = pgTable(
  'sharing_flags',
  {
    id: serial('id').primaryKey(),
    applicationId: applicationRef(),
    licenseId: integer('license_id')
      .notNull()
      .references(() => licenses.id, { onDelete: 'cascade' }),
    kind: text('kind', { enum: SHARING_WINDOW_KINDS }).notNull(),
    windowStart: timestamp('window_start', { withTimezone: true }).notNull(),
    windowEnd: timestamp('window_end', { withTimezone: true }).notNull(),
    ips: integer('ips').notNull(),
    hwidMismatches: integer('hwid_mismatches').notNull(),
    action: text('action', { enum: ['alert', 'ban'] }).notNull(),
    status: text('status', { enum: SHARING_FLAG_STATUSES }).notNull().default('open'),
    /** Who acted on the flag (a Discord member's name, or the detection itself for a ban). */
    resolvedBy: text('resolved_by'),
    resolvedAt: timestamp('resolved_at', { withTimezone: true }),
    createdAt: createdAt(),
  },
  (t) => [
    uniqueIndex('sharing_flags_window_key').on(t.licenseId, t.kind, t.windowStart),
    index('sharing_flags_application_idx').on(t.applicationId, t.createdAt),
    check('sharing_flags_kind_check', sql`${t.kind} in ('ips_24h', 'hwid_mismatches_1h')`),
    check('sharing_flags_status_check', sql`${t.status} in ('open', 'banned', 'hwid_reset', 'ignored')`),
  ],
);

/**
 * Floating seats: a HWID holds one while its heartbeats arrive within 2 × the heartbeat interval.
 * Held here, not in Redis: the database is already on the heartbeat's path, a seat survives a
 * restart, and the grant is one statement (keycord_seat_heartbeat, migration 0013). Stored at
 * fillfactor 70 (migration 0019), so a renewal is a heap-only update that leaves the index alone.
 */
export const licenseSeats = pgTable(
  'license_seats',
  {
    licenseId: integer('license_id')
      .notNull()
      .references(() => licenses.id, { onDelete: 'cascade' }),
    hwid: text('hwid').notNull(),
    lastHeartbeatAt: timestamp('last_heartbeat_at', { withTimezone: true }).notNull(),
    /**
     * When this machine took the seat: where a license holds more live seats than its maximum (lowered
     * since), the newest give theirs up first (keycord_seat_heartbeat, migration 0022).
     */
    grantedAt: timestamp('granted_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.licenseId, t.hwid] })],
);

/**
 * Offline leases as issued (migration 0015): one row per machine, its latest lease, so the views
 * can show which machines may run offline and until when. A lease itself is a signed token the
 * client keeps; this row only records it (lease-state.ts), it grants nothing.
 */
export const licenseLeases = pgTable(
  'license_leases',
  {
    licenseId: integer('license_id')
      .notNull()
      .references(() => licenses.id, { onDelete: 'cascade' }),
    hwid: text('hwid').notNull(),
    issuedAt: timestamp('issued_at', { withTimezone: true }).notNull(),
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.licenseId, t.hwid] })],
);

/** A store (Sellix, SellAuth, Stripe) that issues keys of an application when it sells (migration 0011). */
export const storeIntegrations = pgTable(
  'store_integrations',
  {
    id: serial('id').primaryKey(),
    applicationId: applicationRef(),
    provider: text('provider', { enum: ['sellix', 'sellauth', 'stripe'] }).notNull(),
    /** The store's webhook signing secret, encrypted with KEYCORD_SECRET (it must be recovered to verify). */
    secretEnc: text('secret_enc').notNull(),
    /** `[{ product_id, plan_id, quantity_per_unit }]`: which plan a store product issues. */
    products: jsonb('products').$type<{ product_id: string; plan_id: number; quantity_per_unit: number }[]>().notNull(),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [index('store_integrations_application_idx').on(t.applicationId), check('store_integrations_provider_check', sql`${t.provider} in ('sellix', 'sellauth', 'stripe')`)],
);

/** One row per (integration, order, line): inserted with the keys, so an order is fulfilled exactly once. */
export const storeOrders = pgTable(
  'store_orders',
  {
    id: serial('id').primaryKey(),
    integrationId: integer('integration_id')
      .notNull()
      .references(() => storeIntegrations.id, { onDelete: 'cascade' }),
    orderId: text('order_id').notNull(),
    /** The cart line (a Sellix cart product, a SellAuth invoice item); '' for a whole order. */
    lineId: text('line_id').notNull().default(''),
    status: text('status', { enum: ['fulfilled', 'refunded'] })
      .notNull()
      .default('fulfilled'),
    planId: integer('plan_id'),
    licenseIds: integer('license_ids').array().notNull().default(sql`'{}'`),
    discordUserId: text('discord_user_id'),
    createdAt: createdAt(),
    refundedAt: timestamp('refunded_at', { withTimezone: true }),
  },
  (t) => [
    uniqueIndex('store_orders_order_key').on(t.integrationId, t.orderId, t.lineId),
    // Refunds of orders Keycord never fulfilled, by integration and age: what the maintenance pass
    // forgets of Stripe integrations' (forget-keyless-refunds.ts), never reading other stores' rows.
    index('store_orders_keyless_refunds_idx').on(t.integrationId, t.refundedAt).where(sql`${t.status} = 'refunded' and ${t.licenseIds} = '{}'`),
    check('store_orders_status_check', sql`${t.status} in ('fulfilled', 'refunded')`),
  ],
);
