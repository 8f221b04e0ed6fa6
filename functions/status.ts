import { contracts } from './contracts.js';
import { byRoute, http } from './middleware/http.js';

export const handler = byRoute({
  'GET /api/v1/twin/status': http(contracts['GET /api/v1/twin/status']).handler(({ principal, services }) => services.twin.status(principal!)),
  'GET /model/info': http(contracts['GET /model/info']).handler(({ services }) => services.twin.modelInfo()),
  'GET /metrics': http(contracts['GET /metrics']).handler(({ services }) => services.twin.metrics()),
});
