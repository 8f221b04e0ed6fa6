import { contracts } from './contracts.js';
import { parseInferTarget } from './core/twin/target.js';
import { byRoute, http } from './middleware/http.js';
import { twinService } from './services/twin.js';

export const handler = byRoute({
  'POST /api/v1/twin/predict': http(contracts['POST /api/v1/twin/predict']).handler(({ body, principal, services, requestId, writes }) => services.get(twinService).predict(principal!, body, { requestId, writes })),
  // The chapter's microservice shape: {success, result: {prediction, confidence_interval, inference_time_ms, timestamp}, request_id}.
  'POST /predict': http(contracts['POST /predict']).handler(async ({ body, principal, services, requestId, audit, writes }) => {
    const { user: _user, ...result } = await services.get(twinService).predict(principal!, body, { requestId, writes });
    audit.modelVersion = result.model_version;
    return { success: true, result, request_id: requestId };
  }),
  // Models addressed by name (and version): the same use case, shape and checks as /api/v1/twin/predict.
  'POST /api/v1/models/{name}/predict': http(contracts['POST /api/v1/models/{name}/predict']).handler(({ body, principal, services, requestId, pathParameters, writes }) =>
    services.get(twinService).predict(principal!, body, { requestId, target: parseInferTarget(pathParameters.name!), writes }),
  ),
  'POST /api/v1/models/{name}/versions/{version}/predict': http(contracts['POST /api/v1/models/{name}/versions/{version}/predict']).handler(
    ({ body, principal, services, requestId, pathParameters, writes }) =>
      services.get(twinService).predict(principal!, body, { requestId, target: parseInferTarget(pathParameters.name!, pathParameters.version!), writes }),
  ),
});
