import { contracts } from './contracts.js';
import { docsPageCsp, renderDocsPage } from './docs-page.js';
import { byRoute, http, Reply, TextReply } from './middleware/http.js';
import { buildOpenApiDocument } from './openapi.js';

let cached: { serverUrl: string; doc: Record<string, unknown>; page: string } | undefined;

/** The document depends only on the code and the API's URL (the issuer): built once per container. */
function documents(serverUrl: string) {
  if (cached?.serverUrl !== serverUrl) {
    const doc = buildOpenApiDocument({ serverUrl });
    cached = { serverUrl, doc, page: renderDocsPage(doc) };
  }
  return cached;
}

/** Public: the OpenAPI 3.1 document and the page that renders it. */
export const handler = byRoute({
  'GET /openapi.json': http(contracts['GET /openapi.json']).handler(async ({ services }) =>
    new Reply(200, documents(services.config.issuer).doc, { 'cache-control': 'public, max-age=300', 'access-control-allow-origin': '*' }),
  ),
  'GET /docs': http(contracts['GET /docs']).handler(async ({ services }) =>
    new TextReply(200, documents(services.config.issuer).page, {
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'public, max-age=300',
      'content-security-policy': docsPageCsp,
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
    }),
  ),
});
