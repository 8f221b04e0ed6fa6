import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHeldBackTwin, type HeldBackTwin } from '../support/held-back.js';
import { expectError, issueFields, userWithToken } from '../support/identity.js';
import { capturingLog, dropTable, expectGeneric5xx, expectNoInternals } from '../support/reliability.js';

/**
 * GET /api/v1/alerts's bad input and a failing store, now that it reads the cap's counts too: 400 naming the
 * field, 404 for a model the caller cannot see (with nothing of the count), and the generic 5xx, with nothing
 * internal, when the table holding alerts and counts is gone.
 */

let h: HeldBackTwin;
let northViewer: string;

beforeAll(async () => {
  h = await startHeldBackTwin();
  northViewer = (await userWithToken(h.api, h.admin, { username: 'nia-viewer', role: 'viewer', plant: 'north' })).token;
  await h.storm('north', 3);
}, 60_000);

afterAll(async () => {
  await h?.t.stop();
});

describe('GET /api/v1/alerts errors', () => {
  it.each([
    ['limit=0', 'query.limit'],
    ['limit=201', 'query.limit'],
    ['limit=many', 'query.limit'],
    ['plant=north', ''],
  ])('?%s → 400 naming the field', async (query, field) => {
    const res = await h.api('GET', `/api/v1/alerts?${query}`, { token: northViewer });
    expectError(res, 400, 'INVALID_REQUEST');
    if (field) expect(issueFields(res)).toContain(field);
    expect(res.text).not.toContain('held_back');
  });

  it('a model never published (as one of another plant) → 404 with nothing of the count', async () => {
    const res = await h.api('GET', '/api/v1/alerts?model=never-published', { token: northViewer });
    expectError(res, 404, 'MODEL_NOT_FOUND');
    expect(res.text).not.toContain('held');
  });

  it('the alert table gone → the generic 5xx, nothing internal', async () => {
    await dropTable(h.t.twin, 'AlertState');
    const { result: res, log } = await capturingLog(() => h.api('GET', '/api/v1/alerts', { token: northViewer }));
    expectGeneric5xx(res);
    expectNoInternals(res);
    // The cause is logged for the operator, under the request id the client was given.
    expect(log.withMessage('unhandled error').map((l) => l.requestId)).toContain(res.headers.get('x-request-id'));
  });
});
