/**
 * The client API: routes customer apps call, identified by `app_id` rather than a bearer token.
 * Rate limiting (per application and IP) and the encrypted-body convention apply to these.
 */
export const CLIENT_ROUTES = new Set([
  'POST /api/licenses/validate',
  'POST /api/licenses/check-expiration',
  'POST /api/user-auth/create',
  'POST /api/user-auth/login',
  'POST /api/user-auth/validate-license',
  'POST /api/user-auth/update-license',
  'GET /api/user-auth/me',
  'GET /api/variables/:name',
  'GET /api/files/:id/download',
]);

export const routeId = (method: string, url: string) => `${method} ${url}`;
