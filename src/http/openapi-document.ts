/**
 * What the OpenAPI document says beside the routes (tags, servers) and the last pass over it, so
 * that linters and client generators read it as the specification means (test/openapi-lint.test.ts).
 */

/** Every tag a route uses, described; a tag missing here fails the lint (operation-tag-defined). */
export const OPENAPI_TAGS = [
  { name: 'Health', description: 'Liveness and readiness: the database, and Redis where configured.' },
  { name: 'Auth', description: 'Developer accounts: sign-up, login, the current developer and API keys (`kc_live_…`).' },
  { name: 'Applications', description: "A seller's applications: `app_id`, client secret, public key and settings." },
  { name: 'Plans', description: 'What a license grants: name and duration, per application.' },
  { name: 'Licenses', description: 'Seller side of licenses: generate (now or as a job), list, read, ban, extend, reset the HWID.' },
  { name: 'Client', description: "Called by the seller's software with its `app_id`, no bearer: validation, expiry and variables. Answers are signed (`X-Signature-Ed25519`)." },
  { name: 'User authentication', description: 'End users of an application: accounts bound to a license, logins and user tokens.' },
  { name: 'Users', description: "Seller side of an application's end-user accounts: list and search, read, delete, reset a password." },
  { name: 'Jobs', description: 'Bulk generation jobs: progress and the keys they made.' },
  { name: 'Webhooks', description: "Signed event deliveries to the seller's endpoints, their history and redelivery." },
  { name: 'Variables', description: 'Key/value settings an application reads at run time.' },
  { name: 'Files', description: 'Files an application downloads, publicly or behind a license.' },
  { name: 'Collaborators', description: "Other developers' access to an application, by role." },
  { name: 'Logs', description: 'Audit and validation logs of an application.' },
  { name: 'Statistics', description: 'License, user and validation counts.' },
  { name: 'Key sharing', description: 'Licenses key-sharing detection flagged (too many IPs in a day, or HWID mismatches in an hour), with their figures and what was done.' },
  { name: 'Blacklists', description: 'HWIDs and IP addresses or CIDR ranges (v4, v6) refused on every client route with the signed code BLACKLISTED.' },
  { name: 'Store integrations', description: 'Sellix, SellAuth and Stripe: a sale issues keys of a plan exactly once per order; a refund or chargeback bans them.' },
];

/** Relative: the instance that serves this document (OpenAPI resolves it against the document's URL). */
export const OPENAPI_SERVERS = [{ url: '/', description: 'This Keycord instance' }];

type Parameter = { in?: string; name?: string; description?: string };
type PathItem = Record<string, { parameters?: Parameter[] } | unknown>;

const shapeOf = (path: string) => path.replace(/\{[^}]+\}/g, '{}');
const namesIn = (path: string) => [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]!);

/**
 * Paths as OpenAPI requires them, whatever the router accepts:
 * - no trailing slash (`/api/plans/` is served as `/api/plans` too: ignoreTrailingSlash);
 * - paths that differ only in their parameters' names are one path (the specification's "MUST
 *   NOT exist"): `PUT /api/variables/:id` and `GET /api/variables/:name` share `/api/variables/{id}`,
 *   the later operation's parameter renamed and described by its own name. The URLs are unchanged.
 */
export function tidyOpenapiDocument<T extends { paths?: object }>(doc: T): T {
  if (!doc.paths) return doc;
  const paths: Record<string, PathItem> = {};
  const byShape = new Map<string, string>();
  for (const [raw, item] of Object.entries(doc.paths as Record<string, PathItem>)) {
    const path = raw.length > 1 ? raw.replace(/\/+$/, '') : raw;
    const first = byShape.get(shapeOf(path)) ?? path;
    byShape.set(shapeOf(path), first);
    const renames = new Map(
      namesIn(path)
        .map((name, i) => [name, namesIn(first)[i]!] as const)
        .filter(([from, to]) => from !== to),
    );
    const renamed = Object.fromEntries(
      Object.entries(item).map(([method, op]) => {
        if (!renames.size || !op || typeof op !== 'object' || !Array.isArray((op as { parameters?: unknown }).parameters)) return [method, op];
        const parameters = (op as { parameters: Parameter[] }).parameters.map((p) => {
          const to = p.in === 'path' && p.name ? renames.get(p.name) : undefined;
          return to ? { ...p, name: to, description: p.description ?? `The ${p.name} (this URL's segment, named ${to} in the shared path)` } : p;
        });
        return [method, { ...(op as object), parameters }];
      }),
    );
    paths[first] = { ...paths[first], ...renamed };
  }
  return { ...doc, paths };
}
