import { z } from 'zod';
import { activateRequestSchema, publishRequestSchema, routingRequestSchema } from './core/models/service.js';
import { byRoute, http, Reply } from './middleware/http.js';

const alertsQuery = z.strictObject({ model: z.string().max(63).optional(), limit: z.coerce.number().int().min(1).max(200).default(50) });

/** Model lifecycle: list, versions, publish, activate, rollback, A/B routing, stats; and the alert history. */
export const handler = byRoute({
  'GET /api/v1/models': http().handler(({ services }) => services.models.list()),
  'GET /api/v1/models/{name}/versions': http().handler(({ services, pathParameters }) => services.models.versions(pathParameters.name!)),
  'POST /api/v1/models/{name}/versions': http({ body: publishRequestSchema }).handler(async ({ body, services, pathParameters }) => {
    const result = await services.models.publish(pathParameters.name!, body);
    return new Reply(result.published ? 201 : 200, result);
  }),
  'POST /api/v1/models/{name}/activate': http({ body: activateRequestSchema }).handler(({ body, services, pathParameters }) =>
    services.models.activate(pathParameters.name!, body.version),
  ),
  'POST /api/v1/models/{name}/rollback': http().handler(({ services, pathParameters }) => services.models.rollback(pathParameters.name!)),
  'PUT /api/v1/models/{name}/routing': http({ body: routingRequestSchema }).handler(({ body, services, pathParameters }) =>
    services.models.setRouting(pathParameters.name!, body),
  ),
  'GET /api/v1/models/{name}/versions/{version}/package': http().handler(({ services, pathParameters }) =>
    services.models.download(pathParameters.name!, pathParameters.version!),
  ),
  'GET /api/v1/models/{name}/stats': http().handler(({ services, pathParameters }) => services.models.variantStats(pathParameters.name!)),
  'GET /api/v1/alerts': http({ query: alertsQuery }).handler(({ query, principal, services }) =>
    services.models.recentAlerts(principal!, query.model ?? services.config.defaultModel, query.limit),
  ),
});
