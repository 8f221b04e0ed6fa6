import { contracts } from './contracts.js';
import { scopes } from './core/auth/roles.js';
import { byRoute, http, Reply } from './middleware/http.js';

/** Public routes: health and the issuer's discovery documents (the JWT authorizer fetches them). */
export const handler = byRoute({
  'GET /health': http(contracts['GET /health']).handler(async ({ services }) => {
    const health = await services.twin.health();
    return new Reply(health.statusCode, health.body);
  }),
  'GET /.well-known/openid-configuration': http(contracts['GET /.well-known/openid-configuration']).handler(async ({ services }) => {
    const issuer = services.config.issuer;
    return new Reply(
      200,
      {
        issuer,
        jwks_uri: `${issuer}/.well-known/jwks.json`,
        token_endpoint: `${issuer}/api/v1/auth/token`,
        grant_types_supported: ['password', 'client_credentials'],
        response_types_supported: ['token'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256'],
        token_endpoint_auth_methods_supported: ['client_secret_post'],
        scopes_supported: scopes,
      },
      { 'cache-control': 'public, max-age=300' },
    );
  }),
  'GET /.well-known/jwks.json': http(contracts['GET /.well-known/jwks.json']).handler(async ({ services }) =>
    new Reply(200, await services.signer.jwks(), { 'cache-control': 'public, max-age=300' }),
  ),
});
