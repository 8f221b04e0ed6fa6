import { contracts } from './contracts.js';
import { scopes } from './core/auth/roles.js';
import { byRoute, http, Reply } from './middleware/http.js';
import { signer } from './services/access.js';

/**
 * The issuer's discovery documents. API Gateway's JWT authorizer fetches them after each of its own cold
 * starts, so they are served by a function without the onnxruntime layer (infra/functions.ts).
 */
export const handler = byRoute({
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
    new Reply(200, await services.get(signer).jwks(), { 'cache-control': 'public, max-age=300' }),
  ),
});
