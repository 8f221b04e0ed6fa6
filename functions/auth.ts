import { contracts } from './contracts.js';
import { parseApiKey } from './core/auth/api-keys.js';
import { byRoute, http } from './middleware/http.js';
import { authService } from './services/access.js';

export const handler = byRoute({
  'POST /api/v1/auth/login': http(contracts['POST /api/v1/auth/login']).handler(({ body, services, sourceIp, audit }) => {
    audit.subject = body.username;
    return services.get(authService).login(body, sourceIp);
  }),
  'POST /api/v1/auth/token': http(contracts['POST /api/v1/auth/token']).handler(({ body, services, sourceIp, audit }) => {
    // Only the key's public id is recorded, never its secret.
    audit.subject = body.grant_type === 'password' ? body.username : (parseApiKey(body.client_secret)?.keyId ?? 'malformed-key');
    return services.get(authService).token(body, sourceIp);
  }),
});
