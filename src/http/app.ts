import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import { installContractCheck, type ContractViolation } from './contract-check.js';
import { installResponseContract } from './responses.js';
import swaggerUi from '@fastify/swagger-ui';
import { jsonSchemaTransform, serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Deps } from '../core/deps.js';
import type { TrustProxy } from '../config.js';
import { installClientSigning } from './client-signing.js';
import { installErrorHandling, renderFrameworkError } from './errors.js';
import { installDatabaseGate } from './database-gate.js';
import { installClientAddressCheck } from './client-address.js';
import { installIdempotency } from './idempotency.js';
import { applicationRoutes } from './routes/applications.js';
import { authRoutes } from './routes/auth.js';
import { clientLicenseRoutes } from './routes/client-licenses.js';
import { clientSeatRoutes } from './routes/client-seats.js';
import { clientLeaseRoutes } from './routes/client-leases.js';
import { healthRoutes, type HealthCheck } from './routes/health.js';
import { licenseRoutes } from './routes/licenses.js';
import { planRoutes } from './routes/plans.js';
import { blacklistRoutes } from './routes/blacklist.js';
import { jobRoutes } from './routes/jobs.js';
import { webhookRoutes } from './routes/webhooks.js';
import { variableRoutes } from './routes/variables.js';
import { fileRoutes } from './routes/files.js';
import { userAuthRoutes } from './routes/user-auth.js';
import { collaboratorRoutes } from './routes/collaborators.js';
import { logRoutes } from './routes/logs.js';
import { statisticsRoutes } from './routes/statistics.js';
import { sharingRoutes } from './routes/sharing.js';
import { userRoutes } from './routes/users.js';
import { integrationRoutes } from './routes/integrations.js';
import { adminQueuesOff } from './routes/admin-queues-off.js';
import type { JobSystem } from '../jobs/job-system.js';
import type { DiscordBot } from '../discord/bot.js';
import { installStorableTextGuard } from './storable-text.js';
import { installRateLimits } from './rate-limits.js';
import { installEncryptedAnswers } from './body-encryption.js';
import { installRoutePolicy } from './route-policy.js';
import { installOperationIds } from './operation-ids.js';
import { OPENAPI_SERVERS, OPENAPI_TAGS, tidyOpenapiDocument } from './openapi-document.js';
import { installClientGuard } from './client-guard.js';
import { applyServerLimits, DEFAULT_HTTP_LIMITS, fastifyServerOptions, type HttpServerLimits } from './server-limits.js';

export interface BuildAppOptions {
  version?: string;
  /** TRUST_PROXY: which proxies' X-Forwarded-For is believed (see config.ts). */
  trustProxy?: TrustProxy;
  bodyLimit?: number;
  /** Reported by /api/health next to the database; 'down' degrades without failing. */
  healthChecks?: Record<string, HealthCheck>;
  /** Log every request (off in tests and benchmarks). */
  logRequests?: boolean;
  /** The BullMQ side, when Redis is configured: health reports it, operators get the dashboard. */
  jobs?: JobSystem;
  operators?: string[];
  /** Requests per minute; without it the limits are the configuration defaults. */
  rateLimits?: { sellerPerMinute: number; authPerMinute: number; prefix?: string };
  /** Sign client answers with nonces made ahead on a second thread where libsodium loaded (SIGNING_THREAD; default on). */
  signingThread?: boolean;
  /** PUBLIC_URL: the origin stores and Discord reach this instance at (integration URLs). */
  publicUrl?: string | undefined;
  /** HTTP interactions mode: the bot's handlers and the key Discord signs with. */
  discord?: { bot: DiscordBot; publicKey: string };
  /** Timeouts and the connection cap (HTTP_* settings); the configuration defaults without it. */
  http?: HttpServerLimits;
  /** The test suite's guard: answers their routes' declared responses do not describe land here. */
  contractViolations?: ContractViolation[];
}

export const API_VERSION = '0.1.0';

/** The HTTP door: parse, call the core, render. Tests use `app.inject` or listen on 127.0.0.1:0. */
export async function buildApp(deps: Deps, opts: BuildAppOptions = {}): Promise<FastifyInstance> {
  const httpLimits = opts.http ?? DEFAULT_HTTP_LIMITS;
  const app = Fastify({
    // Fastify types its logger as its own base interface; pino's Logger is a superset of it.
    loggerInstance: deps.log as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: !opts.logRequests }),
    // A hop count trusts the nearest N proxies (Fastify's runtime takes a number; its types only a function).
    trustProxy:
      typeof opts.trustProxy === 'number'
        ? (
            (hops: number) => (_address: string, hop: number) =>
              hop < hops
          )(opts.trustProxy)
        : (opts.trustProxy ?? false),
    bodyLimit: opts.bodyLimit ?? 1024 * 1024,
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 200 },
    frameworkErrors: renderFrameworkError,
    // Our ids are integers; Fastify's own request ids only need to be unique per process.
    genReqId: (() => {
      let n = 0;
      return () => (++n).toString(36);
    })(),
    ...fastifyServerOptions(httpLimits),
  }).withTypeProvider<ZodTypeProvider>();
  applyServerLimits(app, httpLimits);

  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  installErrorHandling(
    app,
    (_request, reply, status, body) => reply.code(status).send(body),
    (err) => void deps.dbAvailability.reportError(err),
  );
  if (opts.trustProxy) installClientAddressCheck(app);
  installDatabaseGate(app, deps);
  app.decorateRequest('actor', null);
  installStorableTextGuard(app);
  // Encryption's onSend must run before signing's: the signature covers the encrypted bytes.
  installEncryptedAnswers(app);
  installClientSigning(app, { thread: opts.signingThread ?? true });
  installRoutePolicy(app);
  installResponseContract(app);
  if (opts.contractViolations) installContractCheck(app, opts.contractViolations);
  installOperationIds(app);
  installClientGuard(app, deps);
  installIdempotency(app, deps);

  await installRateLimits(app, {
    sellerPerMinute: opts.rateLimits?.sellerPerMinute ?? 600,
    authPerMinute: opts.rateLimits?.authPerMinute ?? 10,
    redis: opts.jobs?.redis ?? null,
    prefix: opts.rateLimits?.prefix ?? 'keycord',
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'Keycord API', version: opts.version ?? API_VERSION, description: 'Software licensing: seller API and client API. See API.md.' },
      servers: OPENAPI_SERVERS,
      tags: OPENAPI_TAGS,
      components: {
        securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'A session token (kc_sess_…) or an API key (kc_live_…)' } },
      },
      security: [{ bearer: [] }],
    },
    transform: jsonSchemaTransform,
    transformObject: (document) => ('openapiObject' in document ? tidyOpenapiDocument(document.openapiObject) : document.swaggerObject),
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  const startedAt = Date.now();
  const healthChecks = { ...(opts.jobs ? { redis: opts.jobs.redisHealth } : {}), ...opts.healthChecks };
  await app.register(healthRoutes, { deps, version: opts.version ?? API_VERSION, startedAt, optionalChecks: healthChecks });
  await app.register(authRoutes, { deps });
  await app.register(applicationRoutes, { deps });
  await app.register(planRoutes, { deps });
  await app.register(blacklistRoutes, { deps });
  await app.register(clientLicenseRoutes, { deps });
  await app.register(clientSeatRoutes, { deps });
  await app.register(clientLeaseRoutes, { deps });
  await app.register(licenseRoutes, { deps });
  await app.register(jobRoutes, { deps });
  await app.register(webhookRoutes, { deps });
  await app.register(variableRoutes, { deps });
  await app.register(fileRoutes, { deps });
  await app.register(userAuthRoutes, { deps });
  await app.register(collaboratorRoutes, { deps });
  await app.register(logRoutes, { deps });
  await app.register(statisticsRoutes, { deps });
  await app.register(sharingRoutes, { deps });
  await app.register(userRoutes, { deps });
  await app.register(integrationRoutes, { deps, publicUrl: opts.publicUrl });
  // Loaded only where they serve: Discord's door when the bot is on, the Bull Board dashboard (with
  // its own UI and validation libraries) when BullMQ runs the jobs and someone may open it. Each is
  // memory held for good.
  if (opts.discord) {
    const { discordInteractionRoutes } = await import('../discord/adapters/http-interactions.js');
    await discordInteractionRoutes(app, { ...opts.discord, redis: opts.jobs?.redis ?? null, redisPrefix: opts.rateLimits?.prefix ?? 'keycord' });
  }
  if (opts.jobs && opts.operators?.length) {
    const { adminQueueRoutes } = await import('./routes/admin-queues.js');
    await adminQueueRoutes(app, { deps, queues: opts.jobs.queues, operators: opts.operators, publicUrl: opts.publicUrl });
  } else if (opts.jobs) {
    adminQueuesOff(app);
  }
  return app;
}
