import { contracts } from './contracts.js';
import { parseInferTarget } from './core/twin/target.js';
import { byRoute, http } from './middleware/http.js';

export const handler = byRoute({
  'POST /api/v1/twin/batch': http(contracts['POST /api/v1/twin/batch']).handler(({ body, principal, services, requestId, writes }) => services.twin.batch(principal!, body, { requestId, writes })),
  'POST /api/v1/models/{name}/batch': http(contracts['POST /api/v1/models/{name}/batch']).handler(({ body, principal, services, requestId, pathParameters, writes }) =>
    services.twin.batch(principal!, body, { requestId, target: parseInferTarget(pathParameters.name!), writes }),
  ),
});
