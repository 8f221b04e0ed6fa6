import { createKeyRequestSchema } from './core/auth/keys-service.js';
import { byRoute, http, Reply } from './middleware/http.js';

/** API-key management: create (secret shown once), list, revoke, rotate. */
export const handler = byRoute({
  'POST /api/v1/keys': http({ body: createKeyRequestSchema }).handler(async ({ body, principal, services }) =>
    new Reply(201, await services.keys.create(principal!, body)),
  ),
  'GET /api/v1/keys': http().handler(({ principal, services }) => services.keys.list(principal!)),
  'DELETE /api/v1/keys/{id}': http().handler(({ principal, services, pathParameters }) => services.keys.revoke(principal!, pathParameters.id!)),
  'POST /api/v1/keys/{id}/rotate': http().handler(({ principal, services, pathParameters }) => services.keys.rotate(principal!, pathParameters.id!)),
});
