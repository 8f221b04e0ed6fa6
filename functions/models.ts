import { contracts } from './contracts.js';
import { byRoute, http, Reply } from './middleware/http.js';

/** Model lifecycle: list, versions, publish, activate, rollback, A/B routing, stats; and the alert history. */
export const handler = byRoute({
  'GET /api/v1/models': http(contracts['GET /api/v1/models']).handler(({ services }) => services.models.list()),
  'GET /api/v1/models/{name}/versions': http(contracts['GET /api/v1/models/{name}/versions']).handler(({ services, pathParameters }) => services.models.versions(pathParameters.name!)),
  'POST /api/v1/models/{name}/versions': http(contracts['POST /api/v1/models/{name}/versions']).handler(async ({ body, services, pathParameters }) => {
    const result = await services.models.publish(pathParameters.name!, body);
    return new Reply(result.published ? 201 : 200, result);
  }),
  'POST /api/v1/models/{name}/activate': http(contracts['POST /api/v1/models/{name}/activate']).handler(({ body, services, pathParameters }) =>
    services.models.activate(pathParameters.name!, body.version),
  ),
  'POST /api/v1/models/{name}/rollback': http(contracts['POST /api/v1/models/{name}/rollback']).handler(({ services, pathParameters }) => services.models.rollback(pathParameters.name!)),
  'PUT /api/v1/models/{name}/routing': http(contracts['PUT /api/v1/models/{name}/routing']).handler(({ body, services, pathParameters }) =>
    services.models.setRouting(pathParameters.name!, body),
  ),
  'GET /api/v1/models/{name}/versions/{version}/package': http(contracts['GET /api/v1/models/{name}/versions/{version}/package']).handler(({ services, pathParameters }) =>
    services.models.download(pathParameters.name!, pathParameters.version!),
  ),
  'GET /api/v1/models/{name}/stats': http(contracts['GET /api/v1/models/{name}/stats']).handler(({ services, pathParameters }) => services.models.variantStats(pathParameters.name!)),
  'GET /api/v1/alerts': http(contracts['GET /api/v1/alerts']).handler(({ query, principal, services }) =>
    services.models.recentAlerts(principal!, query.model ?? services.twin.defaultModelFor(principal!), query.limit),
  ),
});
