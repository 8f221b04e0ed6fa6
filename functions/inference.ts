import { contracts } from './contracts.js';
import { byRoute, http, Reply } from './middleware/http.js';
import { oipService } from './services/lifecycle.js';

/** Open Inference Protocol (KServe V2) REST: the protocol's JSON in and out, errors as `{error: string}`. */
export const handler = byRoute({
  'GET /v2/health/live': http(contracts['GET /v2/health/live']).handler(async ({ services }) => services.get(oipService).live()),
  'GET /v2/health/ready': http(contracts['GET /v2/health/ready']).handler(async ({ services }) => {
    const ready = await services.get(oipService).ready();
    return new Reply(ready.ready ? 200 : 503, ready);
  }),
  'GET /v2': http(contracts['GET /v2']).handler(async ({ services }) => services.get(oipService).serverMetadata()),
  'GET /v2/models/{name}': http(contracts['GET /v2/models/{name}']).handler(({ principal, services, pathParameters }) => services.get(oipService).modelMetadata(principal!, pathParameters.name!)),
  'GET /v2/models/{name}/versions/{version}': http(contracts['GET /v2/models/{name}/versions/{version}']).handler(({ principal, services, pathParameters }) =>
    services.get(oipService).modelMetadata(principal!, pathParameters.name!, pathParameters.version!),
  ),
  'GET /v2/models/{name}/ready': http(contracts['GET /v2/models/{name}/ready']).handler(async ({ principal, services, pathParameters }) => {
    const ready = await services.get(oipService).modelReady(principal!, pathParameters.name!);
    return new Reply(ready.ready ? 200 : 503, ready);
  }),
  'GET /v2/models/{name}/versions/{version}/ready': http(contracts['GET /v2/models/{name}/versions/{version}/ready']).handler(async ({ principal, services, pathParameters }) => {
    const ready = await services.get(oipService).modelReady(principal!, pathParameters.name!, pathParameters.version!);
    return new Reply(ready.ready ? 200 : 503, ready);
  }),
  'POST /v2/models/{name}/infer': http(contracts['POST /v2/models/{name}/infer']).handler(({ body, principal, services, pathParameters, requestId, writes }) =>
    services.get(oipService).infer(principal!, pathParameters.name!, undefined, body, requestId, writes),
  ),
  'POST /v2/models/{name}/versions/{version}/infer': http(contracts['POST /v2/models/{name}/versions/{version}/infer']).handler(
    ({ body, principal, services, pathParameters, requestId, writes }) => services.get(oipService).infer(principal!, pathParameters.name!, pathParameters.version!, body, requestId, writes),
  ),
});
