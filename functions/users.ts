import { createUserRequestSchema, setPasswordRequestSchema, updateUserRequestSchema } from './core/auth/users-service.js';
import { byRoute, http, Reply } from './middleware/http.js';

export const handler = byRoute({
  'POST /api/v1/users': http({ body: createUserRequestSchema }).handler(async ({ body, principal, services }) =>
    new Reply(201, await services.users.create(principal!, body)),
  ),
  'GET /api/v1/users': http().handler(({ principal, services }) => services.users.list(principal!)),
  'PATCH /api/v1/users/{username}': http({ body: updateUserRequestSchema }).handler(({ body, principal, services, pathParameters }) =>
    services.users.update(principal!, pathParameters.username!, body),
  ),
  'POST /api/v1/users/{username}/password': http({ body: setPasswordRequestSchema }).handler(({ body, principal, services, pathParameters }) =>
    services.users.setPassword(principal!, pathParameters.username!, body),
  ),
});
