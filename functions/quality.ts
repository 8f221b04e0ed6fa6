import { contracts } from './contracts.js';
import { byRoute, http } from './middleware/http.js';
import { quality } from './services/twin.js';

/** Model quality: measured values for earlier predictions, and the quality view (docs/models.md, "Model quality"). */
export const handler = byRoute({
  'POST /api/v1/models/{name}/feedback': http(contracts['POST /api/v1/models/{name}/feedback']).handler(({ body, principal, services, pathParameters }) =>
    services.get(quality).feedback(principal!, pathParameters.name!, body),
  ),
  'PUT /api/v1/models/{name}/versions/{version}/calibration': http(contracts['PUT /api/v1/models/{name}/versions/{version}/calibration']).handler(({ body, principal, services, pathParameters }) =>
    services.get(quality).calibrate(principal!, pathParameters.name!, pathParameters.version!, body),
  ),
  'GET /api/v1/models/{name}/quality': http(contracts['GET /api/v1/models/{name}/quality']).handler(({ principal, services, pathParameters }) =>
    services.get(quality).quality(principal!, pathParameters.name!),
  ),
});
