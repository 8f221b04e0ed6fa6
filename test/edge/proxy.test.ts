import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalTwin, type LocalTwin } from '../../infra/local/twin.js';

/**
 * Behind nginx: clients reach the twin at a public https:// URL that the box itself cannot resolve, and every
 * connection comes from the proxy. Tokens name the public URL; audit and login throttles see the real client.
 */
const publicUrl = 'https://twin.plant.example';
const password = 'proxy-admin-password';
let twin: LocalTwin;
let dataDir: string;

async function call(path: string, init: { method?: string; token?: string; body?: unknown; forwardedFor?: string } = {}) {
  const res = await fetch(`${twin.listenUrl}${path}`, {
    method: init.method ?? (init.body ? 'POST' : 'GET'),
    headers: {
      ...(init.body ? { 'content-type': 'application/json' } : {}),
      ...(init.token ? { authorization: `Bearer ${init.token}` } : {}),
      ...(init.forwardedFor ? { 'x-forwarded-for': init.forwardedFor } : {}),
    },
    ...(init.body ? { body: JSON.stringify(init.body) } : {}),
  });
  return { status: res.status, headers: res.headers, json: (await res.json()) as Record<string, unknown> };
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'twinserve-proxy-'));
  twin = await startLocalTwin({ dataDir, port: 0, adminPassword: password, publicUrl, trustProxy: true, dashboardDir: false });
});

afterAll(async () => {
  await twin?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

describe('behind a reverse proxy', () => {
  it('names the public URL as issuer and still verifies its own tokens (keys in-process)', async () => {
    // Act
    const discovery = await call('/.well-known/openid-configuration');
    const login = await call('/api/v1/auth/login', { body: { username: 'admin', password } });
    const token = String(login.json.token);
    const predict = await call('/api/v1/twin/predict', { token, body: { temp: 360, pressure: 6, flow: 100 } });

    // Assess
    expect(twin.url).toBe(publicUrl);
    expect(discovery.json.issuer).toBe(publicUrl);
    expect(JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')).iss).toBe(publicUrl);
    expect(predict.status).toBe(200);
  });

  it('records the client address the proxy forwarded, not the proxy', async () => {
    // Prepare
    const login = await call('/api/v1/auth/login', { body: { username: 'admin', password } });
    const token = String(login.json.token);

    // Act
    const res = await call('/api/v1/twin/status', { token, forwardedFor: '198.51.100.23' });
    const audit = await call(`/api/v1/audit?action=twin.status&limit=5`, { token });

    // Assess
    const requestId = res.headers.get('x-request-id');
    const record = (audit.json.items as { requestId: string; sourceIp: string }[]).find((r) => r.requestId === requestId);
    expect(record?.sourceIp).toBe('198.51.100.23');
  });

  it('ignores a forwarded value that is not an address', async () => {
    const login = await call('/api/v1/auth/login', { body: { username: 'admin', password } });
    const token = String(login.json.token);
    const res = await call('/api/v1/twin/status', { token, forwardedFor: '<script>' });
    const audit = await call(`/api/v1/audit?action=twin.status&limit=5`, { token });
    const record = (audit.json.items as { requestId: string; sourceIp: string }[]).find((r) => r.requestId === res.headers.get('x-request-id'));
    expect(record?.sourceIp).toMatch(/127\.0\.0\.1/);
  });
});
