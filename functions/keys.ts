import { contracts } from './contracts.js';
import { byRoute, http, Reply } from './middleware/http.js';
import { keyService } from './services/access.js';

/** API-key management: create (secret shown once), list, revoke, rotate. */
export const handler = byRoute({
  'POST /api/v1/keys': http(contracts['POST /api/v1/keys']).handler(async ({ body, principal, services }) =>
    new Reply(201, await services.get(keyService).create(principal!, body)),
  ),
  'GET /api/v1/keys': http(contracts['GET /api/v1/keys']).handler(({ principal, services }) => services.get(keyService).list(principal!)),
  'DELETE /api/v1/keys/{id}': http(contracts['DELETE /api/v1/keys/{id}']).handler(({ principal, services, pathParameters }) => services.get(keyService).revoke(principal!, pathParameters.id!)),
  'POST /api/v1/keys/{id}/rotate': http(contracts['POST /api/v1/keys/{id}/rotate']).handler(({ principal, services, pathParameters }) => services.get(keyService).rotate(principal!, pathParameters.id!)),
});
