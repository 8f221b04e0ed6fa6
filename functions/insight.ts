import { contracts } from './contracts.js';
import { byRoute, http } from './middleware/http.js';
import { insightService } from './services/lifecycle.js';

/** Process insight on a named model: the core does the work (functions/core/insight/service.ts). */
export const handler = byRoute({
  'POST /api/v1/models/{name}/explain': http(contracts['POST /api/v1/models/{name}/explain']).handler(({ body, principal, services, pathParameters }) =>
    services.get(insightService).explain(principal!, pathParameters.name!, body),
  ),
  'POST /api/v1/models/{name}/sweep': http(contracts['POST /api/v1/models/{name}/sweep']).handler(({ body, principal, services, pathParameters }) =>
    services.get(insightService).sweep(principal!, pathParameters.name!, body),
  ),
  'POST /api/v1/models/{name}/optimize': http(contracts['POST /api/v1/models/{name}/optimize']).handler(({ body, principal, services, pathParameters }) =>
    services.get(insightService).optimize(principal!, pathParameters.name!, body),
  ),
});
