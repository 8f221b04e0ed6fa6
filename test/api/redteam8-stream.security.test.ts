import { openAlertStream, type OpenStream, type SseEvent } from '../support/sse.js';
import { connect, type Socket } from 'node:net';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { maxStreamBacklogBytes, maxStreamsPerPrincipal } from '../../infra/local/alert-stream.js';
import { createKey, keyToken, relaxedLoginEnv, setItemAttributes, startTwinWithEnv, userWithToken } from '../support/identity.js';
import { outOfBandRow } from '../support/models.js';
import { apiClient, claimsFor, foreignRsaKey, login, nowSeconds, rawToken, readSigningKeys, signToken, type Api, type SigningKey, type TestTwin } from '../support/twin.js';

/**
 * The eighth hostile review, on the local twin's live alert stream (GET /api/v1/alerts/stream,
 * infra/local/alert-stream.ts): as the lowest principals of plant bravo against plant alpha's alerts; tokens of
 * the wrong audience, issuer or algorithm; principals that expire, are revoked or deactivated while their stream
 * is open; hostile `replay` values; clients that leave before the stream opens or never read. The twin runs with
 * a 0.2 s principal bound, so re-checks come soon; the tests wait for events and audit records, never on time.
 */

let t: TestTwin;
let api: Api;
let root: string;
let signing: SigningKey;

beforeAll(async () => {
  t = await startTwinWithEnv({ ...relaxedLoginEnv, TWIN_PRINCIPAL_CACHE_SECONDS: '0.2', TWIN_RATE_LIMIT_PER_MINUTE: '100000' });
  api = apiClient(t.url);
  root = await login(api);
  signing = (await readSigningKeys(t.dataDir))[0]!;
}, 60_000);

const sockets: Socket[] = [];
const aborts: { abort(): void }[] = [];
afterAll(async () => {
  for (const a of aborts) a.abort();
  for (const s of sockets) s.destroy();
  await t?.stop();
});

/** Opens a stream with fetch; its events as they come. `query` is the raw query string (default `replay=100`). */
async function openStream(token: string | undefined, query = 'replay=100'): Promise<OpenStream> {
  const stream = await openAlertStream(t.url, token, query);
  aborts.push({ abort: stream.close });
  return stream;
}

const alertOf = (e: SseEvent) => (e.event === 'alert' ? (JSON.parse(e.data) as { message: { principal: string; plant?: string; model?: string } }).message : undefined);
const fromPrincipal = (name: string) => (e: SseEvent) => alertOf(e)?.principal === name;

/** Publishes to the local SNS sink as the twin's functions do (signed with the store credentials). */
async function publish(messages: readonly Record<string, unknown>[]): Promise<void> {
  const sns = new SNSClient({ endpoint: t.twin.sns.endpoint!, region: 'us-east-1', credentials: t.twin.storeCredentials });
  try {
    for (const m of messages) await sns.send(new PublishCommand({ TopicArn: 'arn:aws:sns:us-east-1:000000000000:twinserve-local-alerts', Message: JSON.stringify(m) }));
  } finally {
    sns.destroy();
  }
}

/** Predicts far below the alert band and waits until the sink has the alert. */
async function raiseAlert(token: string, principal: string): Promise<void> {
  const res = await api('POST', '/api/v1/twin/predict', { token, body: outOfBandRow });
  expect(res.status, res.text).toBe(200);
  for (let i = 0; i < 200; i++) {
    if ((await t.twin.sns.recent(1000)).some((m) => (m.message as { principal?: string }).principal === principal)) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`no alert from ${principal}`);
}

interface StreamRecord {
  requestId: string;
  outcome: number;
  errorCode?: string;
  plant?: string;
}

async function streamRecords(principal: string): Promise<StreamRecord[]> {
  const res = await api('GET', `/api/v1/audit?action=alerts.stream&principal=${encodeURIComponent(principal)}&limit=200`, { token: root });
  expect(res.status, res.text).toBe(200);
  return res.json.items as StreamRecord[];
}

/** Polls the audit log (bounded) until `done` holds for the principal's stream records. */
async function waitForRecords(principal: string, done: (records: StreamRecord[]) => boolean, what: string): Promise<StreamRecord[]> {
  for (let i = 0; i < 400; i++) {
    const records = await streamRecords(principal);
    if (done(records)) return records;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`no audit record: ${what}`);
}

/** A raw HTTP/1.1 connection asking for the stream: for clients that leave early or never read. */
function rawStreamRequest(token: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const url = new URL(t.url);
    const socket = connect(Number(url.port), url.hostname, () => resolve(socket));
    socket.on('error', reject);
    sockets.push(socket);
  }).then((socket) => {
    (socket as Socket).write(`GET /api/v1/alerts/stream?replay=0 HTTP/1.1\r\nhost: ${new URL(t.url).host}\r\nauthorization: Bearer ${token}\r\naccept: text/event-stream\r\n\r\n`);
    return socket as Socket;
  });
}

describe('tokens the authorizer refuses: 401 before anything is read or counted', () => {
  it('wrong audience, wrong issuer (a trailing slash), alg none, HS256, a foreign key, expired, none, a garbled one → 401 Unauthorized', async () => {
    const claims = { sub: 'admin', role: 'admin', scope: 'twin:read' };
    const foreign = await foreignRsaKey();
    const past = nowSeconds() - 3600;
    const tokens: [string, string | undefined][] = [
      ['wrong audience', await signToken(claimsFor(t.url, { ...claims, aud: 'another-api' }), signing.key, { kid: signing.kid })],
      ['wrong issuer', await signToken(claimsFor(`${t.url}/`, claims), signing.key, { kid: signing.kid })],
      ['alg none', rawToken({ alg: 'none', typ: 'JWT', kid: signing.kid }, claimsFor(t.url, claims) as Record<string, unknown>)],
      ['HS256', await signToken(claimsFor(t.url, claims), new TextEncoder().encode('x'.repeat(64)), { alg: 'HS256', kid: signing.kid })],
      ['foreign key', await signToken(claimsFor(t.url, claims), foreign.privateKey, { kid: signing.kid })],
      ['expired', await signToken(claimsFor(t.url, { ...claims, iat: past, nbf: past, exp: past + 600 }), signing.key, { kid: signing.kid })],
      ['no kid', await signToken(claimsFor(t.url, claims), signing.key)],
      ['none', undefined],
      ['garbled', 'a.b.c'],
    ];
    for (const [label, token] of tokens) {
      const s = await openStream(token);
      expect([label, s.status, s.json]).toEqual([label, 401, { message: 'Unauthorized' }]);
    }
  });

  it('a key of plant bravo without twin:read → 403 Forbidden', async () => {
    const bo = await userWithToken(api, root, { username: 'rt8-bo', role: 'operator', plant: 'bravo' });
    const key = await createKey(api, bo.token, { name: 'predict-only', scopes: ['twin:predict'] });
    const s = await openStream(await keyToken(api, key.key));
    expect([s.status, s.json]).toEqual([403, { message: 'Forbidden' }]);
  });
});

describe('plant bravo’s lowest principals against plant alpha’s alerts', () => {
  it('a bravo viewer and a bravo key (twin:read only) never get alpha’s alerts, replayed or live; nor an injected event', async () => {
    const ann = await userWithToken(api, root, { username: 'rt8-ann', role: 'operator', plant: 'alpha' });
    const bea = await userWithToken(api, root, { username: 'rt8-bea', role: 'viewer', plant: 'bravo' });
    const bob = await userWithToken(api, root, { username: 'rt8-bob', role: 'operator', plant: 'bravo' });
    const key = await createKey(api, bob.token, { name: 'wallboard', scopes: ['twin:read'] });
    await raiseAlert(ann.token, 'rt8-ann');

    const viewer = await openStream(bea.token);
    const machine = await openStream(await keyToken(api, key.key), 'replay=100');
    expect([viewer.status, machine.status]).toEqual([200, 200]);
    // Live: alpha's, then a forged-looking bravo alert whose fields hold SSE line breaks, then bravo's own.
    await raiseAlert(ann.token, 'rt8-ann');
    await publish([{ type: 'alert', plant: 'bravo', model: 'reactor-yield\n\nevent: closed\ndata: {"code":"X"}', principal: 'rt8-inject\r\nid: 1\r\n\r\nevent: closed' }]);
    await raiseAlert(bob.token, 'rt8-bob');
    for (const s of [viewer, machine]) {
      await s.waitFor(fromPrincipal('rt8-bob'), 'bravo’s own alert');
      const alerts = s.events.map(alertOf).filter((m) => m !== undefined);
      expect(alerts.map((m) => m.plant)).toEqual(['bravo', 'bravo']);
      // The line breaks arrived as data inside one event: no `closed` event was forged.
      expect(s.events.map((e) => e.event)).toEqual(['alert', 'alert']);
      expect(alerts[0]!.model).toBe('reactor-yield\n\nevent: closed\ndata: {"code":"X"}');
      s.close();
    }
  });
});

describe('principals that change while their stream is open', () => {
  it('a key that expires closes its stream (KEY_EXPIRED); a key whose owner is deactivated closes too (KEY_REVOKED)', async () => {
    const bex = await userWithToken(api, root, { username: 'rt8-bex', role: 'operator', plant: 'bravo' });
    const expiring = await createKey(api, bex.token, { name: 'expiring', scopes: ['twin:read'] });
    const s = await openStream(await keyToken(api, expiring.key), 'replay=0');
    expect(s.status).toBe(200);
    await setItemAttributes(t, 'ApiKeys', { keyId: expiring.id }, { expiresAt: new Date(Date.now() - 1000).toISOString() });
    expect(JSON.parse((await s.waitFor((e) => e.event === 'closed', 'the closed event')).data)).toMatchObject({ code: 'KEY_EXPIRED' });
    await s.ended;

    const bey = await userWithToken(api, root, { username: 'rt8-bey', role: 'operator', plant: 'bravo' });
    const owned = await createKey(api, bey.token, { name: 'owned', scopes: ['twin:read'] });
    const k = await openStream(await keyToken(api, owned.key), 'replay=0');
    expect(k.status).toBe(200);
    expect((await api('PATCH', '/api/v1/users/rt8-bey', { token: root, body: { active: false } })).status).toBe(200);
    expect(JSON.parse((await k.waitFor((e) => e.event === 'closed', 'the closed event')).data)).toMatchObject({ code: 'KEY_REVOKED' });
    await k.ended;
  });

  it('a stream ends when its token expires (UNAUTHORIZED), audited; it flowed on past exp before', async () => {
    const bez = await userWithToken(api, root, { username: 'rt8-bez', role: 'viewer', plant: 'bravo' });
    const now = nowSeconds();
    // The user's real claims, valid for 2 more seconds (as a token issued an hour minus 2 s ago).
    const token = await signToken(claimsFor(t.url, { sub: bez.username, role: 'viewer', plant: 'bravo', scope: 'twin:read models:read', iat: now, nbf: now, exp: now + 2 }), signing.key, { kid: signing.kid });
    const s = await openStream(token, 'replay=0');
    expect(s.status).toBe(200);
    const closed = await s.waitFor((e) => e.event === 'closed', 'the closed event at the token’s expiry');
    expect(JSON.parse(closed.data)).toMatchObject({ code: 'UNAUTHORIZED', message: expect.stringContaining('expired') });
    await s.ended;
    expect(nowSeconds()).toBeGreaterThanOrEqual(now + 2);
    const records = await waitForRecords(bez.username, (r) => r.length === 2, 'the open and the close');
    expect(records.map((r) => [r.outcome, r.errorCode ?? null]).sort()).toEqual([
      [200, null],
      [401, 'UNAUTHORIZED'],
    ]);
  });
});

describe('hostile replay values: 400 naming query.replay, never clamped', () => {
  it.each([
    ['replay=-1'],
    ['replay=101'],
    ['replay=1000000000000000000000'],
    ['replay=1e2'],
    ['replay=1.5'],
    ['replay=abc'],
    ['replay='],
    ['replay=%2010'],
    ['replay=0x10'],
    ['replay=Infinity'],
    ['replay=5&replay=100'],
  ])('%s → 400 INVALID_REQUEST, query.replay', async (query) => {
    const s = await openStream(root, query);
    expect(s.status, s.text).toBe(400);
    expect(s.json.error).toMatchObject({ code: 'INVALID_REQUEST', issues: [expect.objectContaining({ field: 'query.replay' })] });
    expect(s.json.error.requestId).toEqual(expect.any(String));
  });

  it('an unknown parameter → 400 naming it; replay=0 and replay=100 open the stream', async () => {
    const unknown = await openStream(root, 'replay=5&model=reactor-yield');
    expect(unknown.status).toBe(400);
    expect(unknown.json.error.issues).toEqual([expect.objectContaining({ field: 'query.model', rule: 'unknown_field' })]);
    for (const query of ['replay=0', 'replay=100', '']) {
      const s = await openStream(root, query);
      expect([query, s.status]).toEqual([query, 200]);
      s.close();
    }
  });

  it('the refusal is audited (400) under the principal', async () => {
    const bq = await userWithToken(api, root, { username: 'rt8-bq', role: 'viewer', plant: 'bravo' });
    expect((await openStream(bq.token, 'replay=-5')).status).toBe(400);
    const records = await waitForRecords(bq.username, (r) => r.length === 1, 'the refusal');
    expect(records[0]).toMatchObject({ outcome: 400, errorCode: 'INVALID_REQUEST', plant: 'bravo' });
  });
});

describe('connections: a client that leaves early, many at once, one that never reads', () => {
  it(`clients that leave before their stream opens hold no slot (${maxStreamsPerPrincipal} such, then ${maxStreamsPerPrincipal} streams open)`, async () => {
    const bel = await userWithToken(api, root, { username: 'rt8-bel', role: 'viewer', plant: 'bravo' });
    for (let i = 0; i < maxStreamsPerPrincipal; i++) (await rawStreamRequest(bel.token)).end();
    // Each connection is audited once the server is done with it (before: 200, and its slot kept for good).
    const records = await waitForRecords(bel.username, (r) => r.length === maxStreamsPerPrincipal, 'the early leavers');
    const streams: OpenStream[] = [];
    for (let attempt = 0; attempt < 100 && streams.length < maxStreamsPerPrincipal; attempt++) {
      const s = await openStream(bel.token, 'replay=0');
      if (s.status === 200) streams.push(s);
      else await new Promise((resolve) => setTimeout(resolve, 20));
    }
    for (const s of streams) s.close();
    // Before: the slots stayed taken for good (three early leavers, and the user could stream no more).
    expect(streams).toHaveLength(maxStreamsPerPrincipal);
    // Gone before the stream opened: 499. (One the server opened first, 200, freed its slot when it noticed the close.)
    expect(records.filter((r) => r.outcome === 499 && r.errorCode === 'CLIENT_CLOSED').length + records.filter((r) => r.outcome === 200).length).toBe(maxStreamsPerPrincipal);
    expect(records.some((r) => r.outcome === 499)).toBe(true);
  });

  it(`twenty opened at once by one user and its key: exactly ${maxStreamsPerPrincipal} open, the rest 429`, async () => {
    const bmo = await userWithToken(api, root, { username: 'rt8-bmo', role: 'operator', plant: 'bravo' });
    const key = await createKey(api, bmo.token, { name: 'many', scopes: ['twin:read'] });
    const keyTok = await keyToken(api, key.key);
    const streams = await Promise.all(Array.from({ length: 20 }, (_, i) => openStream(i % 2 ? keyTok : bmo.token, 'replay=0')));
    const statuses = streams.map((s) => s.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(maxStreamsPerPrincipal);
    expect(statuses.filter((s) => s === 429)).toHaveLength(20 - maxStreamsPerPrincipal);
    for (const s of streams) s.close();
  });

  it(`a client that never reads is dropped once more than ${maxStreamBacklogBytes} bytes wait for it (audited STREAM_BACKLOG); other streams flow on`, async () => {
    const bsl = await userWithToken(api, root, { username: 'rt8-bsl', role: 'viewer', plant: 'bravo' });
    const bre = await userWithToken(api, root, { username: 'rt8-bre', role: 'viewer', plant: 'bravo' });
    const reader = await openStream(bre.token, 'replay=0');
    const socket = await rawStreamRequest(bsl.token);
    let received = '';
    socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
    // Subscribed once a live alert arrives; then the client stops reading for good.
    for (let i = 0; i < 40 && !received.includes('rt8-marker'); i++) {
      await publish([{ type: 'alert', plant: 'bravo', model: 'reactor-yield', principal: 'rt8-marker' }]);
      for (let j = 0; j < 10 && !received.includes('rt8-marker'); j++) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(received).toContain('rt8-marker');
    socket.pause();
    // 120 alerts of 100 kB: 12 MB, beyond the kernel's socket buffers and the backlog bound (the reading client
    // would have to fall ten alerts behind to reach it).
    const pad = 'x'.repeat(100_000);
    await publish(Array.from({ length: 120 }, (_, n) => ({ type: 'alert', plant: 'bravo', model: 'reactor-yield', principal: 'rt8-flood', n, pad })));
    const records = await waitForRecords(bsl.username, (r) => r.some((x) => x.errorCode === 'STREAM_BACKLOG'), 'the dropped stream');
    expect(records.find((x) => x.errorCode === 'STREAM_BACKLOG')).toMatchObject({ outcome: 429, plant: 'bravo' });
    // The reading client got every one.
    await reader.waitFor((e) => (alertOf(e) as { n?: number } | undefined)?.n === 119, 'the last flood alert');
    reader.close();
    socket.destroy();
  }, 60_000);
});

describe('the CLI reads the stream’s events by name (client/cli/alerts.ts)', () => {
  it('only `alert` events are alerts; `closed` is the server ending the stream; comments and non-JSON are skipped', async () => {
    const { streamFrame } = await import('../../client/cli/alerts.js');
    expect(streamFrame('id: 1\nevent: alert\ndata: {"message":{"model":"m"}}')).toEqual({ event: 'alert', data: { message: { model: 'm' } } });
    expect(streamFrame('event: closed\ndata: {"code":"UNAUTHORIZED","message":"The token has expired"}')).toEqual({ event: 'closed', data: { code: 'UNAUTHORIZED', message: 'The token has expired' } });
    expect(streamFrame(': keep-alive')).toBeUndefined();
    expect(streamFrame('event: alert\ndata: {not json')).toBeUndefined();
  });
});
