import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatStat, showsAbTest, statsColumns, statsVariants } from '../../dashboard/src/ab-stats.js';
import { AlertFeed, deriveAlert, normalizeServerAlert, outsideBand, type Alert } from '../../dashboard/src/alerts.js';
import { parseDashboardConfig } from '../../dashboard/src/config.js';
import { apiErrorFrom, parseRetryAfter } from '../../dashboard/src/errors.js';
import { checkValue, decimalsOf, inputSpec, niceStep, snap } from '../../dashboard/src/features.js';
import { PredictionHistory, type PredictionPoint } from '../../dashboard/src/history.js';
import { decodeClaims, sessionFromLogin } from '../../dashboard/src/session.js';
import { createSseParser, type SseEvent } from '../../dashboard/src/sse.js';

/** The dashboard's DOM-free logic: parsing what the API and the alert stream send, and deriving alerts. */

const point = (prediction: number, extra: Partial<PredictionPoint> = {}): PredictionPoint => ({
  time: 1_795_620_870.131,
  prediction,
  lo: prediction - 1,
  hi: prediction + 1,
  inputs: { temp: 300, pressure: 6, flow: 100 },
  modelVersion: '1.0.0',
  ...extra,
});

const headers = (values: Record<string, string> = {}) => ({ get: (name: string) => values[name.toLowerCase()] ?? null });

describe('server-sent events parser', () => {
  const parse = (...chunks: string[]) => {
    const events: SseEvent[] = [];
    const feed = createSseParser((e) => events.push(e));
    for (const chunk of chunks) feed(chunk);
    return events;
  };

  it('reads the local sink stream: id, event, JSON data, comments and keep-alives', () => {
    // Act
    const events = parse(': keep-alive\n\n', 'id: m-1\nevent: alert\ndata: {"prediction":12}\n\n', 'data: plain\n\n');

    // Assess
    expect(events).toEqual([
      { event: 'alert', data: '{"prediction":12}', id: 'm-1' },
      { event: 'message', data: 'plain', id: 'm-1' },
    ]);
  });

  it('joins multi-line data, accepts CRLF and CR, and strips one leading space and a BOM', () => {
    expect(parse('\uFEFFdata:a\r\ndata:  b\r\rdata: c\n\n')).toEqual([
      { event: 'message', data: 'a\n b', id: undefined },
      { event: 'message', data: 'c', id: undefined },
    ]);
  });

  it('gives the same events however the stream is split into chunks', () => {
    const stream = 'id: 1\nevent: alert\ndata: {"a":1}\r\n\r\n: ping\n\ndata: x\ndata: y\n\n';
    const whole = parse(stream);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: stream.length }), { maxLength: 8 }), (cuts) => {
        const points = [...new Set(cuts)].sort((a, b) => a - b);
        const chunks = [0, ...points].map((start, i) => stream.slice(start, points[i] ?? stream.length));
        expect(parse(...chunks)).toEqual(whole);
      }),
    );
  });

  it('dispatches nothing for an event without data or an unterminated event', () => {
    expect(parse('event: alert\n\n', 'data: half')).toEqual([]);
  });
});

describe('alerts', () => {
  const band = { min: 70, max: 95 };

  it('is the chapter rule: strictly below min or above max', () => {
    expect(outsideBand(69.99, band)).toBe('below');
    expect(outsideBand(70, band)).toBeUndefined();
    expect(outsideBand(95, band)).toBeUndefined();
    expect(outsideBand(95.01, band)).toBe('above');
    expect(outsideBand(10, null)).toBeUndefined();
    expect(outsideBand(10, { max: 95 })).toBeUndefined();
  });

  it('derives an alert from an out-of-band prediction, keyed by its request id', () => {
    // Act
    const alert = deriveAlert(point(12.3, { requestId: 'req-1' }), band, 'reactor-yield');

    // Assess
    expect(alert).toMatchObject({ id: 'req-1', kind: 'alert', direction: 'below', threshold: 70, prediction: 12.3, model: 'reactor-yield', source: 'browser' });
    expect(alert?.time).toBe(1_795_620_870_131);
    expect(deriveAlert(point(80), band)).toBeUndefined();
  });

  it("reads the API's AlertEvent and the local SNS sink's message wrapping one", () => {
    // Prepare
    const event = {
      id: 'e-1',
      time: '2026-11-25T15:57:12.000Z',
      kind: 'alert',
      model: 'reactor-yield',
      version: '1.0.0',
      rule: 'below_min',
      severity: 'critical',
      principal: 'admin',
      inputs: { temp: 300, pressure: 5.5, flow: 100 },
      prediction: 10.6,
      interval: [8.8, 11.5],
      thresholds: { min: 70, max: 95 },
      requestId: 'req-9',
    };
    const expected = {
      id: 'req-9',
      kind: 'alert',
      severity: 'critical',
      direction: 'below',
      threshold: 70,
      prediction: 10.6,
      time: Date.parse(event.time),
      user: 'admin',
      version: '1.0.0',
      model: 'reactor-yield',
      inputs: event.inputs,
      source: 'server',
    };

    // Act + Assess
    expect(normalizeServerAlert(event)).toMatchObject(expected);
    const sink = { messageId: 'm-1', received: event.time, topicArn: 'arn:aws:sns:us-east-1:0:t', message: { type: 'anomaly', ...event }, attributes: {} };
    expect(normalizeServerAlert(sink)).toMatchObject(expected);
    expect(normalizeServerAlert({ ...event, kind: 'resolved', rule: 'below_min', prediction: 80 })).toMatchObject({ id: 'e-1', kind: 'resolved' });
  });

  it('reads older shapes leniently and refuses anything without a numeric prediction', () => {
    expect(normalizeServerAlert({ alert: { prediction: 99, expected_range: [70, 95], request_id: 'r', timestamp: 1_795_620_870 } })).toMatchObject({
      id: 'r',
      direction: 'above',
      threshold: 95,
      time: 1_795_620_870_000,
    });
    for (const bad of [null, 'x', 42, [], {}, { prediction: '12' }, { message: { prediction: 'NaN' }, messageId: 'm' }]) {
      expect(normalizeServerAlert(bad)).toBeUndefined();
    }
  });

  it('keeps the feed newest first, capped, deduplicated; a server alert replaces the browser one', () => {
    // Prepare
    const feed = new AlertFeed(3);
    const seen: (readonly Alert[])[] = [];
    feed.subscribe((list) => seen.push(list));
    const browser = deriveAlert(point(10, { requestId: 'r1', time: 1 }), band)!;

    // Act
    feed.add(browser);
    expect(feed.add({ ...browser })).toBe(false);
    expect(feed.add({ ...browser, source: 'server', severity: 'critical' })).toBe(true);
    expect(feed.add({ ...browser, source: 'browser' })).toBe(false);
    for (const [i, t] of [2, 3, 4].entries()) feed.add(deriveAlert(point(10, { requestId: `n${i}`, time: t }), band)!);

    // Assess
    expect(feed.list().map((a) => a.id)).toEqual(['n2', 'n1', 'n0']);
    expect(seen).toHaveLength(5);
  });

  it('keeps cleared alerts cleared when polling returns them again', () => {
    const feed = new AlertFeed();
    const alert = normalizeServerAlert({ id: 'e', prediction: 1, thresholds: band, requestId: 'r' })!;
    feed.add(alert);
    feed.clear();
    expect(feed.add(alert)).toBe(false);
    expect(feed.list()).toEqual([]);
  });
});

describe('inputs from the manifest', () => {
  it('builds the slider from name, description, unit and range, starting mid-range', () => {
    expect(inputSpec({ name: 'temp', unit: '°C', description: 'Reactor temperature', min: 300, max: 400 })).toEqual({
      name: 'temp',
      label: 'Reactor temperature',
      unit: '°C',
      min: 300,
      max: 400,
      step: 1,
      decimals: 0,
      initial: 350,
    });
    expect(inputSpec({ name: 'pressure', unit: 'bar', min: 1, max: 10 })).toMatchObject({ label: 'pressure', step: 0.1, decimals: 1, initial: 5.5 });
    expect(inputSpec({ name: 'x', min: 0, max: 1, step: 0.25 })).toMatchObject({ step: 0.25, decimals: 2, initial: 0.5 });
  });

  it('picks about a hundred steps on a 1-2-5 ladder', () => {
    expect([niceStep(300, 400), niceStep(1, 10), niceStep(50, 150), niceStep(0, 0.3), niceStep(0, 7000), niceStep(5, 5)]).toEqual([1, 0.1, 1, 0.002, 50, 1]);
    expect([decimalsOf(1), decimalsOf(0.1), decimalsOf(0.002), decimalsOf(1e-7)]).toEqual([0, 1, 3, 7]);
  });

  it('snaps into range without float dust', () => {
    fc.assert(
      fc.property(fc.double({ min: -1e3, max: 1e3, noNaN: true }), (value) => {
        const spec = inputSpec({ name: 'p', min: 1, max: 10 });
        const snapped = snap(value, spec);
        expect(snapped).toBeGreaterThanOrEqual(1);
        expect(snapped).toBeLessThanOrEqual(10);
        expect(String(snapped)).toMatch(/^\d+(\.\d)?$/);
      }),
    );
  });

  it("accepts what the API's validator accepts: a finite number inside the inclusive range", () => {
    const spec = inputSpec({ name: 'temp', unit: '°C', min: 300, max: 400 });
    expect(checkValue('300', spec)).toEqual({ ok: true, value: 300 });
    expect(checkValue(' 400 ', spec)).toEqual({ ok: true, value: 400 });
    expect(checkValue('400.01', spec)).toEqual({ ok: false, message: 'Must be from 300 to 400 °C' });
    expect(checkValue('', spec)).toMatchObject({ ok: false });
    expect(checkValue('1e999', spec)).toEqual({ ok: false, message: 'Enter a number' });
    expect(checkValue('abc', spec)).toEqual({ ok: false, message: 'Enter a number' });
  });
});

describe('API errors', () => {
  it('reads the envelope, with the retry time from Retry-After or from the body', () => {
    // Prepare
    const body = JSON.stringify({ error: { code: 'RATE_LIMITED', message: 'Rate limit exceeded', requestId: 'r1', retry_after_seconds: 7 }, message: 'Rate limit exceeded' });

    // Act
    const withHeader = apiErrorFrom(429, headers({ 'retry-after': '12' }), body);
    const withoutHeader = apiErrorFrom(429, headers(), body);

    // Assess
    expect(withHeader).toMatchObject({ status: 429, code: 'RATE_LIMITED', message: 'Rate limit exceeded', requestId: 'r1', retryAfterSeconds: 12 });
    expect(withoutHeader.retryAfterSeconds).toBe(7);
  });

  it("reads API Gateway's own answers, the chapter's string errors and non-JSON bodies", () => {
    expect(apiErrorFrom(401, headers({ 'x-request-id': 'gw' }), '{"message":"Unauthorized"}')).toMatchObject({ code: 'UNAUTHORIZED', message: 'Unauthorized', requestId: 'gw' });
    expect(apiErrorFrom(400, headers(), '{"error":"bad"}')).toMatchObject({ code: 'INVALID_REQUEST', message: 'bad' });
    expect(apiErrorFrom(502, headers(), '<html>')).toMatchObject({ code: 'HTTP_502', message: 'The API answered 502' });
  });

  it('keeps field issues for the inputs', () => {
    const body = JSON.stringify({ error: { code: 'INVALID_INPUT', message: 'm', issues: [{ field: 'temp', rule: 'range', message: 'temp=460 out of range' }, { bogus: 1 }] } });
    expect(apiErrorFrom(400, headers(), body).issues).toEqual([{ field: 'temp', rule: 'range', message: 'temp=460 out of range' }]);
  });

  it('parses Retry-After as seconds or an HTTP date', () => {
    const now = Date.parse('2026-11-25T12:00:00Z');
    expect(parseRetryAfter('30', now)).toBe(30);
    expect(parseRetryAfter('Wed, 25 Nov 2026 12:00:09 GMT', now)).toBe(9);
    expect(parseRetryAfter('Wed, 25 Nov 2026 11:00:00 GMT', now)).toBe(0);
    expect([parseRetryAfter(null), parseRetryAfter(''), parseRetryAfter('soon')]).toEqual([undefined, undefined, undefined]);
  });
});

describe('config.json', () => {
  it('means same origin when empty, and takes an https API URL without a trailing slash', () => {
    expect(parseDashboardConfig({})).toEqual({ apiUrl: '' });
    expect(parseDashboardConfig(null)).toEqual({ apiUrl: '' });
    expect(parseDashboardConfig({ apiUrl: 'https://abc.execute-api.eu-west-1.amazonaws.com/' })).toEqual({ apiUrl: 'https://abc.execute-api.eu-west-1.amazonaws.com' });
    expect(parseDashboardConfig({ apiUrl: 'https://twin.example.com/prod/' })).toEqual({ apiUrl: 'https://twin.example.com/prod' });
    expect(parseDashboardConfig({ apiUrl: 'http://127.0.0.1:3000' })).toEqual({ apiUrl: 'http://127.0.0.1:3000' });
  });

  it('refuses plain http off loopback, credentials, queries and non-URLs', () => {
    for (const apiUrl of ['http://twin.example.com', 'https://u:p@twin.example.com', 'https://twin.example.com/?x=1', 'javascript:alert(1)', 'not a url', 42]) {
      expect(() => parseDashboardConfig({ apiUrl })).toThrow(/config\.json/);
    }
    expect(() => parseDashboardConfig([])).toThrow(/object/);
  });
});

describe('session', () => {
  const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const token = (claims: Record<string, unknown>) => `${b64({ alg: 'RS256', kid: 'k' })}.${b64(claims)}.sig`;

  it('takes name, role and scopes from the token and the lifetime from expires_in on our clock', () => {
    // Act
    const session = sessionFromLogin(
      { token: token({ sub: 'ana', role: 'operator', scope: 'twin:predict twin:read', iat: 100, exp: 3700 }), expires_in: 3600 },
      'typed-name',
      1_000_000,
    );

    // Assess
    expect(session).toMatchObject({ username: 'ana', role: 'operator', expiresAt: 1_000_000 + 3_600_000 });
    expect([...session.scopes]).toEqual(['twin:predict', 'twin:read']);
  });

  it("uses the shorter of expires_in and the token's own lifetime", () => {
    const session = sessionFromLogin({ token: token({ sub: 'a', role: 'admin', iat: 100, exp: 160 }), expires_in: 3600 }, 'a', 0);
    expect(session.expiresAt).toBe(60_000);
  });

  it('decodes UTF-8 claims and survives garbage', () => {
    expect(decodeClaims(token({ sub: 'zoë' })).sub).toBe('zoë');
    expect(decodeClaims('garbage')).toEqual({});
    expect(decodeClaims('a.%%%.c')).toEqual({});
  });
});

describe('A/B statistics', () => {
  const counters = (version: string, role: string, requests: number) => ({
    version,
    role,
    weight: role === 'inactive' ? 0 : 0.5,
    requests,
    errors: 0,
    rows: requests,
    mean_latency_ms: 0.4,
    p95_latency_ms: 1,
    latency_histogram: [{ le_ms: 1, count: requests }],
    mean_prediction: 81.234,
    cache_hit_rate: 0.25,
    alerts: 1,
  });

  it('shows the live variants of the stats route, leaving out inactive versions and nested fields', () => {
    // Act
    const variants = statsVariants({
      name: 'reactor-yield',
      routing: { active: '1.0.0', variants: [{ version: '1.0.0', weight: 0.5 }, { version: '1.1.0', weight: 0.5 }] },
      variants: [counters('1.0.0', 'active', 7), counters('1.1.0', 'variant', 5), counters('0.9.0', 'inactive', 40)],
    });

    // Assess
    expect(variants.map((v) => v.version)).toEqual(['1.0.0', '1.1.0']);
    expect(variants[0]).not.toHaveProperty('latency_histogram');
    expect(showsAbTest(variants)).toBe(true);
    expect(statsColumns(variants)).toEqual(['version', 'role', 'weight', 'requests', 'errors', 'mean_prediction', 'p95_latency_ms', 'alerts']);
    expect([formatStat('weight', 0.5), formatStat('cache_hit_rate', 0.025), formatStat('p95_latency_ms', 1), formatStat('mean_prediction', 81.234), formatStat('x', null)]).toEqual([
      '50 %',
      '2.5 %',
      '1.00 ms',
      '81.23',
      '–',
    ]);
  });

  it('lists a routed variant that has not served yet, and hides the panel with one variant', () => {
    const routed = { routing: { active: '1.0.0', variants: [{ version: '1.0.0', weight: 0.9 }, { version: '2.0.0', weight: 0.1 }] }, variants: [counters('1.0.0', 'active', 3)] };
    expect(statsVariants(routed).map((v) => [v.version, v.role, v.weight])).toEqual([
      ['1.0.0', 'active', 0.5],
      ['2.0.0', 'variant', 0.1],
    ]);
    expect(showsAbTest(statsVariants({ routing: { active: '1.0.0' }, variants: [counters('1.0.0', 'active', 3)] }))).toBe(false);
    expect(statsVariants({ variants: { a: { requests: 1 }, b: { requests: 2 } } })).toEqual([
      { variant: 'a', requests: 1 },
      { variant: 'b', requests: 2 },
    ]);
    for (const bad of [null, 'x', {}, { variants: 'x' }]) expect(statsVariants(bad)).toEqual([]);
  });
});

describe('prediction history', () => {
  it("keeps the chapter's last 100 points in uPlot's column layout", () => {
    const history = new PredictionHistory(100);
    for (let i = 0; i < 130; i++) history.push(point(i, { time: i, lo: i === 129 ? null : i - 1 }));
    const [times, predictions, lows] = history.columns();
    expect(history.size).toBe(100);
    expect(times[0]).toBe(30);
    expect(predictions.at(-1)).toBe(129);
    expect(lows.at(-1)).toBeNull();
    expect(history.feature('temp')[1].every((v) => v === 300)).toBe(true);
    expect(history.feature('unknown')[1][0]).toBeNull();
  });
});
