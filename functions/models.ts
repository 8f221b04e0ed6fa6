import { contracts } from './contracts.js';
import { byRoute, http, Reply } from './middleware/http.js';
import { modelService } from './services/lifecycle.js';
import { twinService } from './services/twin.js';

/** Model lifecycle: list, versions, publish, activate, rollback, A/B routing, stats; and the alert history. */
export const handler = byRoute({
  'GET /api/v1/models': http(contracts['GET /api/v1/models']).handler(({ principal, services }) => services.get(modelService).list(principal!)),
  'GET /api/v1/models/{name}/versions': http(contracts['GET /api/v1/models/{name}/versions']).handler(({ principal, services, pathParameters }) => services.get(modelService).versions(principal!, pathParameters.name!)),
  'POST /api/v1/models/{name}/versions': http(contracts['POST /api/v1/models/{name}/versions']).handler(async ({ body, principal, services, pathParameters }) => {
    const result = await services.get(modelService).publish(principal!, pathParameters.name!, body);
    return new Reply(result.published ? 201 : 200, result);
  }),
  'POST /api/v1/models/{name}/uploads': http(contracts['POST /api/v1/models/{name}/uploads']).handler(async ({ principal, services, pathParameters }) =>
    new Reply(201, await services.get(modelService).createUpload(principal!, pathParameters.name!)),
  ),
  'POST /api/v1/models/{name}/activate': http(contracts['POST /api/v1/models/{name}/activate']).handler(({ body, principal, services, pathParameters }) =>
    services.get(modelService).activate(principal!, pathParameters.name!, body.version),
  ),
  'POST /api/v1/models/{name}/rollback': http(contracts['POST /api/v1/models/{name}/rollback']).handler(({ principal, services, pathParameters }) => services.get(modelService).rollback(principal!, pathParameters.name!)),
  'PUT /api/v1/models/{name}/routing': http(contracts['PUT /api/v1/models/{name}/routing']).handler(({ body, principal, services, pathParameters }) =>
    services.get(modelService).setRouting(principal!, pathParameters.name!, body),
  ),
  'GET /api/v1/models/{name}/versions/{version}/package': http(contracts['GET /api/v1/models/{name}/versions/{version}/package']).handler(({ principal, services, pathParameters }) =>
    services.get(modelService).download(principal!, pathParameters.name!, pathParameters.version!),
  ),
  'GET /api/v1/models/{name}/stats': http(contracts['GET /api/v1/models/{name}/stats']).handler(({ principal, services, pathParameters }) => services.get(modelService).variantStats(principal!, pathParameters.name!)),
  'GET /api/v1/alerts': http(contracts['GET /api/v1/alerts']).handler(({ query, principal, services }) =>
    services.get(modelService).recentAlerts(principal!, query.model ?? services.get(twinService).defaultModelFor(principal!), query.limit),
  ),
});
