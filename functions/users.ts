import { contracts } from './contracts.js';
import { byRoute, http, Reply } from './middleware/http.js';
import { userService } from './services/access.js';

export const handler = byRoute({
  'POST /api/v1/users': http(contracts['POST /api/v1/users']).handler(async ({ body, principal, services }) =>
    new Reply(201, await services.get(userService).create(principal!, body)),
  ),
  'GET /api/v1/users': http(contracts['GET /api/v1/users']).handler(({ principal, services }) => services.get(userService).list(principal!)),
  'PATCH /api/v1/users/{username}': http(contracts['PATCH /api/v1/users/{username}']).handler(({ body, principal, services, pathParameters }) =>
    services.get(userService).update(principal!, pathParameters.username!, body),
  ),
  'POST /api/v1/users/{username}/password': http(contracts['POST /api/v1/users/{username}/password']).handler(({ body, principal, services, pathParameters }) =>
    services.get(userService).setPassword(principal!, pathParameters.username!, body),
  ),
});
