import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contentSecurityPolicy } from '../../infra/dashboard-security.js';
import { createDashboardFiles } from '../../infra/local/dashboard-files.js';

/**
 * The local twin's dashboard files, through a bare HTTP server with the same fallback contract as the gateway
 * (false -> the gateway's 404). Raw request paths are sent as written (no client-side normalization), so the
 * traversal attempts reach the handler exactly as an attacker would send them.
 */

let root: string;
let dist: string;
let server: Server;
let port: number;

interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function raw(method: string, path: string): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'twinserve-files-'));
  dist = join(root, 'dist');
  await mkdir(join(dist, 'assets'), { recursive: true });
  await writeFile(join(dist, 'index.html'), '<!doctype html><title>t</title><script type="module" src="./assets/index-abc.js"></script>');
  await writeFile(join(dist, 'assets', 'index-abc.js'), 'console.log(1)');
  await writeFile(join(dist, 'assets', 'index-abc.css'), 'body{}');
  await writeFile(join(dist, 'assets', 'favicon-x.svg'), '<svg/>');
  await writeFile(join(dist, 'assets', 'notes.exe'), 'MZ');
  await writeFile(join(root, 'secret.txt'), 'top secret');
  await symlink(join(root, 'secret.txt'), join(dist, 'assets', 'link.txt'));
  await mkdir(join(dist, 'assets', 'sub.js'));
  const files = createDashboardFiles({ dir: dist });
  const notBuilt = createDashboardFiles({ dir: join(root, 'missing') });
  server = createServer((req, res) => {
    const handler = req.headers['x-not-built'] ? notBuilt : files;
    if (!handler(req, res)) {
      res.writeHead(404, { 'content-type': 'application/json', 'x-from': 'gateway' });
      res.end('{"message":"Not Found"}');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await rm(root, { recursive: true, force: true });
});

describe('dashboard files', () => {
  it('serves index.html at / with the security headers', async () => {
    // Act
    const res = await raw('GET', '/');

    // Assess
    expect(res.status).toBe(200);
    expect(res.body).toContain('<title>t</title>');
    expect(res.headers).toMatchObject({
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-cache',
      'content-security-policy': contentSecurityPolicy(),
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'x-frame-options': 'DENY',
    });
  });

  it.each([
    ['/assets/index-abc.js', 'text/javascript; charset=utf-8'],
    ['/assets/index-abc.css', 'text/css; charset=utf-8'],
    ['/assets/favicon-x.svg', 'image/svg+xml'],
    ['/assets/index-abc.js?v=1', 'text/javascript; charset=utf-8'],
  ])('serves %s as %s, cached as immutable', async (path, type) => {
    const res = await raw('GET', path);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe(type);
    expect(res.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
  });

  it('serves config.json: same origin locally', async () => {
    const res = await raw('GET', '/config.json');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(JSON.parse(res.body)).toEqual({});
  });

  it.each([
    '/assets/../../secret.txt',
    '/assets/..%2f..%2fsecret.txt',
    '/assets/%2e%2e/%2e%2e/secret.txt',
    '/assets/..%5c..%5csecret.txt',
    '/assets/%252e%252e%252fsecret.txt',
    '/assets/.hidden',
    '/assets/',
    '/assets/sub.js',
    '/assets/link.txt',
    '/assets/notes.exe',
    '/assets/missing.js',
    '/assets/index-abc.js%00.html',
    '//etc/passwd',
  ])('never leaves dist/assets or serves what it should not: GET %s', async (path) => {
    const res = await raw('GET', path);
    expect(res.status).toBe(404);
    expect(res.body).not.toContain('top secret');
    expect(res.body).not.toContain('MZ');
  });

  it.each(['POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS'])('leaves %s / to the gateway', async (method) => {
    const res = await raw(method, '/');
    expect(res.status).toBe(404);
    expect(res.headers['x-from']).toBe('gateway');
  });

  it('leaves every other path to the gateway', async () => {
    for (const path of ['/api/v1/twin/status', '/index.htm', '/dist/index.html', '/favicon.ico']) {
      expect((await raw('GET', path)).headers['x-from']).toBe('gateway');
    }
  });

  it('says how to build the dashboard when dist is missing', async () => {
    const res = await new Promise<RawResponse>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: '/', headers: { 'x-not-built': '1' } }, (r) => {
        let body = '';
        r.on('data', (c: Buffer) => (body += c.toString()));
        r.on('end', () => resolve({ status: r.statusCode ?? 0, headers: r.headers, body }));
      });
      req.on('error', reject);
      req.end();
    });
    expect(res.status).toBe(503);
    expect(res.body).toContain('npm run build:dashboard');
    expect(res.headers['content-security-policy']).toBe(contentSecurityPolicy());
  });
});
