import { contracts } from './contracts.js';
import { byRoute, http } from './middleware/http.js';

export const handler = byRoute({
  'GET /api/v1/audit': http(contracts['GET /api/v1/audit']).handler(({ query, principal, services }) => services.auditQueries.query(principal!, query)),
  'POST /api/v1/audit/import': http(contracts['POST /api/v1/audit/import']).handler(({ body, principal, services }) => services.auditQueries.import(principal!, body)),
});
