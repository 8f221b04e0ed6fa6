import { contracts } from './contracts.js';
import { byRoute, http, Reply } from './middleware/http.js';
import { twinService } from './services/twin.js';

/** Public health: loads the serving model, so this function carries onnxruntime (discovery is functions/discovery.ts). */
export const handler = byRoute({
  'GET /health': http(contracts['GET /health']).handler(async ({ services }) => {
    const health = await services.get(twinService).health();
    return new Reply(health.statusCode, health.body);
  }),
});
