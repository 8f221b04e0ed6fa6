import { contracts } from './contracts.js';
import { byRoute, http, Reply } from './middleware/http.js';

/** API-key management: create (secret shown once), list, revoke, rotate. */
export const handler = byRoute({
  'POST /api/v1/keys': http(contracts['POST /api/v1/keys']).handler(async ({ body, principal, services }) =>
    new Reply(201, await services.keys.create(principal!, body)),
  ),
  'GET /api/v1/keys': http(contracts['GET /api/v1/keys']).handler(({ principal, services }) => services.keys.list(principal!)),
  'DELETE /api/v1/keys/{id}': http(contracts['DELETE /api/v1/keys/{id}']).handler(({ principal, services, pathParameters }) => services.keys.revoke(principal!, pathParameters.id!)),
  'POST /api/v1/keys/{id}/rotate': http(contracts['POST /api/v1/keys/{id}/rotate']).handler(({ principal, services, pathParameters }) => services.keys.rotate(principal!, pathParameters.id!)),
});
