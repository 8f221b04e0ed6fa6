import { contracts } from './contracts.js';
import { byRoute, http, Reply } from './middleware/http.js';

export const handler = byRoute({
  'POST /api/v1/users': http(contracts['POST /api/v1/users']).handler(async ({ body, principal, services }) =>
    new Reply(201, await services.users.create(principal!, body)),
  ),
  'GET /api/v1/users': http(contracts['GET /api/v1/users']).handler(({ principal, services }) => services.users.list(principal!)),
  'PATCH /api/v1/users/{username}': http(contracts['PATCH /api/v1/users/{username}']).handler(({ body, principal, services, pathParameters }) =>
    services.users.update(principal!, pathParameters.username!, body),
  ),
  'POST /api/v1/users/{username}/password': http(contracts['POST /api/v1/users/{username}/password']).handler(({ body, principal, services, pathParameters }) =>
    services.users.setPassword(principal!, pathParameters.username!, body),
  ),
});
