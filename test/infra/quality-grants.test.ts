import { describe, expect, it } from 'vitest';
import { functionDefs } from '../../infra/functions.js';
import { routes } from '../../functions/routes.js';
import { tables } from '../../infra/tables.js';

/**
 * Least privilege for model quality, on the data the stacks derive IAM from (test/infra/platform.test.ts
 * proves each function's synthesized role allows exactly what infra/functions.ts grants).
 */
describe('model-quality tables and grants', () => {
  it('keeps predictions with a TTL and a keys-only by-model-and-time index; quality aggregates by (pk, sk)', () => {
    expect(tables.find((t) => t.id === 'Predictions')).toMatchObject({ partitionKey: 'id', ttlAttribute: 'ttl', globalIndexes: [{ name: 'byModelPlantTime', partitionKey: 'model', sortKey: 'psk', include: ['plant', 'version'] }] });
    expect(tables.find((t) => t.id === 'Quality')).toMatchObject({ partitionKey: 'pk', sortKey: 'sk' });
  });

  it('lets the serving functions only put predictions (one item per request, alone in Lambda) and only read quality (the width factor)', () => {
    for (const name of ['predict', 'batch', 'inference'] as const) {
      expect(functionDefs[name].tables.Predictions).toEqual(['PutItem']);
      expect(functionDefs[name].tables.Quality).toEqual(['GetItem']);
    }
  });

  it('gives the quality function its tables and the alert state, and of users and keys only the principal re-check', () => {
    const def = functionDefs.quality;
    expect(def.tables).toEqual({
      Users: ['GetItem'],
      ApiKeys: ['GetItem'],
      Predictions: ['BatchGetItem', 'UpdateItem', 'Query:byModelPlantTime'],
      Quality: ['GetItem', 'PutItem', 'UpdateItem', 'Query'],
      AlertState: ['GetItem', 'UpdateItem', 'DeleteItem'],
      RateCounters: ['UpdateItem'],
      AuditLog: ['PutItem'],
    });
    expect(def.modelBucket).toBe('read');
    expect(def.alerts).toBe(true);
    expect(def.signingKey).toBeUndefined();
  });

  it('lets no other function touch the model-quality tables (status only reads the added calibration; the schedule reads and keeps its cursor)', () => {
    expect(functionDefs.status.tables.Quality).toEqual(['GetItem']);
    expect(functionDefs.status.tables.Predictions).toBeUndefined();
    expect(functionDefs['quality-schedule'].tables.Predictions).toEqual(['BatchGetItem', 'Query:byModelPlantTime']);
    // Of its own, the schedule writes only the served-pairs cursor (PutItem, `sk = served`).
    expect(functionDefs['quality-schedule'].tables.Quality).toEqual(['GetItem', 'PutItem', 'Query']);
    const others = Object.values(functionDefs).filter((d) => !['predict', 'batch', 'inference', 'quality', 'status', 'quality-schedule'].includes(d.name));
    for (const d of others) expect([d.name, d.tables.Predictions, d.tables.Quality]).toEqual([d.name, undefined, undefined]);
  });

  it('routes feedback with twin:feedback only, quality with models:read, calibration with models:write', () => {
    const scopesOf = (method: string, path: string) => {
      const route = routes.find((r) => r.method === method && r.path === path)!;
      return route.auth === 'public' ? 'public' : route.auth.scopes;
    };
    expect(scopesOf('POST', '/api/v1/models/{name}/feedback')).toEqual(['twin:feedback']);
    expect(scopesOf('GET', '/api/v1/models/{name}/quality')).toEqual(['models:read']);
    expect(scopesOf('PUT', '/api/v1/models/{name}/versions/{version}/calibration')).toEqual(['models:write']);
  });
});
