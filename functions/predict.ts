import { contracts } from './contracts.js';
import { parseInferTarget } from './core/twin/target.js';
import { byRoute, http } from './middleware/http.js';

export const handler = byRoute({
  'POST /api/v1/twin/predict': http(contracts['POST /api/v1/twin/predict']).handler(({ body, principal, services, requestId }) => services.twin.predict(principal!, body, requestId)),
  // The chapter's microservice shape: {success, result: {prediction, confidence_interval, inference_time_ms, timestamp}, request_id}.
  'POST /predict': http(contracts['POST /predict']).handler(async ({ body, principal, services, requestId, audit }) => {
    const { user: _user, ...result } = await services.twin.predict(principal!, body, requestId);
    audit.modelVersion = result.model_version;
    return { success: true, result, request_id: requestId };
  }),
  // Models addressed by name (and version): the same use case, shape and checks as /api/v1/twin/predict.
  'POST /api/v1/models/{name}/predict': http(contracts['POST /api/v1/models/{name}/predict']).handler(({ body, principal, services, requestId, pathParameters }) =>
    services.twin.predict(principal!, body, requestId, parseInferTarget(pathParameters.name!)),
  ),
  'POST /api/v1/models/{name}/versions/{version}/predict': http(contracts['POST /api/v1/models/{name}/versions/{version}/predict']).handler(
    ({ body, principal, services, requestId, pathParameters }) => services.twin.predict(principal!, body, requestId, parseInferTarget(pathParameters.name!, pathParameters.version!)),
  ),
});
