import { describe, expect, it } from 'vitest';
import { defaultBodyBytes, largeBodyBytes, publicBodyBytes } from '../../functions/body-limits.js';
import { contractOf } from '../../functions/contracts.js';
import { jsonShapeIssue, maxJsonKeys } from '../../functions/core/json-body.js';
import { maxBatchSize } from '../../functions/core/twin/limits.js';
import { routeKey, routes } from '../../functions/routes.js';

/**
 * The routes' body limits (functions/body-limits.ts) against the largest bodies the routes take: a manifest holds
 * at most 256 features, named by identifiers of at most 64 characters (functions/core/manifest.ts). Through the
 * gateway: test/api/redteam7-input.security.test.ts ("every route's own body limit").
 */

/** The largest row a model can take: 256 features, 64-character names, each value the longest spelling of a double. */
const largestRow = Object.fromEntries(Array.from({ length: 256 }, (_, i) => [`f${String(i).padStart(3, '0')}${'x'.repeat(60)}`, -2.2250738585072014e-308]));

describe('body limits fit the largest legitimate bodies', () => {
  it('one prediction of the largest row, pretty-printed, with explain: under half the default limit', () => {
    const body = JSON.stringify({ ...largestRow, explain: true }, null, 2);
    expect(Object.keys(largestRow)[0]).toHaveLength(64);
    expect(Buffer.byteLength(body)).toBeLessThan(defaultBodyBytes / 2);
    expect(jsonShapeIssue(body)).toBeUndefined();
  });

  it(`a batch of ${maxBatchSize} largest rows, pretty-printed: under the large limit and ${maxJsonKeys} distinct keys`, () => {
    const body = JSON.stringify({ inputs: Array.from({ length: maxBatchSize }, () => largestRow) }, null, 2);
    expect(Buffer.byteLength(body)).toBeLessThan(largeBodyBytes / 2);
    expect(jsonShapeIssue(body)).toBeUndefined();
  });

  it('every route has a limit: login and token 16 KB; rows, records and models 6 MB; every other route 64 KB', () => {
    const large = routes.filter((r) => contractOf(routeKey(r)).maxBodyBytes === largeBodyBytes).map(routeKey);
    expect(large.sort()).toEqual(
      [
        'POST /api/v1/audit/import',
        'POST /api/v1/models/{name}/batch',
        'POST /api/v1/models/{name}/explain',
        'POST /api/v1/models/{name}/feedback',
        'POST /api/v1/models/{name}/versions',
        'POST /api/v1/twin/batch',
        'POST /v2/models/{name}/infer',
        'POST /v2/models/{name}/versions/{version}/infer',
        'PUT /api/v1/models/{name}/versions/{version}/calibration',
      ].sort(),
    );
    const publicOnes = routes.filter((r) => contractOf(routeKey(r)).maxBodyBytes === publicBodyBytes).map(routeKey);
    expect(publicOnes.sort()).toEqual(['POST /api/v1/auth/login', 'POST /api/v1/auth/token']);
    for (const r of routes) expect([undefined, publicBodyBytes, largeBodyBytes]).toContain(contractOf(routeKey(r)).maxBodyBytes);
  });
});
