import { contracts } from './contracts.js';
import { parseInferTarget } from './core/twin/target.js';
import { byRoute, http } from './middleware/http.js';
import { twinService } from './services/twin.js';

export const handler = byRoute({
  'POST /api/v1/twin/batch': http(contracts['POST /api/v1/twin/batch']).handler(({ body, principal, services, requestId, writes }) => services.get(twinService).batch(principal!, body, { requestId, writes })),
  'POST /api/v1/models/{name}/batch': http(contracts['POST /api/v1/models/{name}/batch']).handler(({ body, principal, services, requestId, pathParameters, writes }) =>
    services.get(twinService).batch(principal!, body, { requestId, target: parseInferTarget(pathParameters.name!), writes }),
  ),
});
