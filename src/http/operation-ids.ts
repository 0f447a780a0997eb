import type { FastifyInstance, RouteOptions } from 'fastify';

const pascal = (word: string) => word.charAt(0).toUpperCase() + word.slice(1);

/**
 * `GET /api/applications/:id/licenses` → `getApplicationsByIdLicenses`: unique because method and
 * path are, and stable as long as the URL is — what client generators name their functions after.
 */
export function operationIdFor(method: string, url: string): string {
  const words = url
    .replace(/^\/api\//, '/')
    .split('/')
    .filter(Boolean)
    .flatMap((segment) => (segment.startsWith(':') ? [`by-${segment.slice(1)}`] : [segment]))
    .flatMap((segment) => segment.split(/[-_.]/))
    .filter(Boolean);
  return method.toLowerCase() + words.map(pascal).join('');
}

/** Every documented operation gets an operationId unless its route declares one. */
export function installOperationIds(app: FastifyInstance) {
  app.addHook('onRoute', (route: RouteOptions) => {
    const method = Array.isArray(route.method) ? route.method[0]! : route.method;
    if (method === 'HEAD') return;
    const schema = (route.schema ?? {}) as Record<string, unknown>;
    if (schema.hide || schema.operationId) return;
    route.schema = { ...schema, operationId: operationIdFor(method, route.url) } as RouteOptions['schema'];
  });
}
