import { contracts } from './contracts.js';
import { byRoute, http } from './middleware/http.js';
import { twinService } from './services/twin.js';

export const handler = byRoute({
  'GET /api/v1/twin/status': http(contracts['GET /api/v1/twin/status']).handler(({ principal, services }) => services.get(twinService).status(principal!)),
  'GET /model/info': http(contracts['GET /model/info']).handler(({ principal, services }) => services.get(twinService).modelInfo(principal!)),
  'GET /metrics': http(contracts['GET /metrics']).handler(({ principal, services }) => services.get(twinService).metrics(principal!)),
});
