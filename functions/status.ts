import { contracts } from './contracts.js';
import { byRoute, http } from './middleware/http.js';

export const handler = byRoute({
  'GET /api/v1/twin/status': http(contracts['GET /api/v1/twin/status']).handler(({ principal, services }) => services.twin.status(principal!)),
  'GET /model/info': http(contracts['GET /model/info']).handler(({ principal, services }) => services.twin.modelInfo(principal!)),
  'GET /metrics': http(contracts['GET /metrics']).handler(({ principal, services }) => services.twin.metrics(principal!)),
});
