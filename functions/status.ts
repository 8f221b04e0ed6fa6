import { byRoute, http } from './middleware/http.js';

export const handler = byRoute({
  'GET /api/v1/twin/status': http().handler(({ principal, services }) => services.twin.status(principal!)),
  'GET /model/info': http().handler(({ services }) => services.twin.modelInfo()),
  'GET /metrics': http().handler(({ services }) => services.twin.metrics()),
});
