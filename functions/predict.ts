import { byRoute, http } from './middleware/http.js';

export const handler = byRoute({
  'POST /api/v1/twin/predict': http().handler(({ body, principal, services }) => services.twin.predict(principal!, body)),
  // The chapter's microservice shape: {success, result: {prediction, confidence_interval, inference_time_ms, timestamp}, request_id}.
  'POST /predict': http().handler(async ({ body, principal, services, requestId }) => {
    const { user: _user, ...result } = await services.twin.predict(principal!, body);
    return { success: true, result, request_id: requestId };
  }),
});
