import { loginRequestSchema } from './core/auth/service.js';
import { byRoute, http } from './middleware/http.js';

export const handler = byRoute({
  'POST /api/v1/auth/login': http({ body: loginRequestSchema }).handler(({ body, services }) => services.auth.login(body)),
});
