import { cp, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type SecureVersion } from 'node:tls';
import { c as createTar } from 'tar';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalTwin, type LocalTwin } from '../../infra/local/twin.js';
import { callJson, edgeAdminPassword, httpsJson, loginAs, referencePackageDir, selfSignedCertificate, validRow } from './support.js';

/**
 * Edge mode in this process (startLocalTwin with `edgeModel`): the same API from a package on local disk,
 * with no S3 and no connection leaving the machine; packages that do not verify are refused before anything
 * starts; HTTPS with TLS 1.2 at least; plain HTTP only on loopback unless allowed. One twin at a time (the
 * twin configures the handlers through process.env).
 */

const s3Variables = ['AWS_ENDPOINT_URL_S3', 'TWIN_MODEL_BUCKET'] as const;
let work: string;

/** A copy of the reference package at `<dir>/reactor-yield/1.0.0`, outside the repository. */
async function packageCopy(dir: string): Promise<string> {
  const target = join(dir, 'reactor-yield', '1.0.0');
  await mkdir(target, { recursive: true });
  await cp(referencePackageDir, target, { recursive: true });
  return target;
}

/** `<name>.tgz` holding the package folder `1.0.0/` (as `tar czf x.tgz 1.0.0` would). */
async function tarball(packageDir: string, file: string): Promise<string> {
  await createTar({ gzip: true, file, cwd: join(packageDir, '..'), portable: true }, ['1.0.0']);
  return file;
}

/** Every TCP connection this process opens while `record` is on, by destination. */
const connections: string[] = [];
const originalConnect = Socket.prototype.connect;
function recordConnections(): void {
  Socket.prototype.connect = function connect(this: Socket, ...args: unknown[]) {
    const [first, second] = args;
    if (typeof first === 'object' && first !== null) {
      const options = first as { host?: string; path?: string };
      connections.push(options.path !== undefined ? `unix:${options.path}` : (options.host ?? 'localhost'));
    } else if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first))) {
      connections.push(typeof second === 'string' ? second : 'localhost');
    } else if (typeof first === 'string') {
      connections.push(`unix:${first}`);
    }
    return (originalConnect as (...a: unknown[]) => Socket).apply(this, args);
  } as typeof Socket.prototype.connect;
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'twinserve-edge-'));
  for (const name of s3Variables) delete process.env[name];
});

afterAll(async () => {
  Socket.prototype.connect = originalConnect;
  await rm(work, { recursive: true, force: true });
});

describe('edge mode, from a package directory, on loopback', () => {
  let twin: LocalTwin;
  let token: string;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = join(work, 'edge-data');
    const pkg = await packageCopy(join(work, 'edge-package'));
    recordConnections();
    twin = await startLocalTwin({ dataDir, port: 0, edgeModel: pkg, adminPassword: edgeAdminPassword, dashboardDir: false });
  });

  afterAll(async () => {
    Socket.prototype.connect = originalConnect;
    await twin?.stop();
  });

  it('serves with no S3 at all: no embedded S3 server, no S3 endpoint or bucket in the environment', () => {
    expect(twin.s3Endpoint).toBeUndefined();
    for (const name of s3Variables) expect(process.env[name], name).toBeUndefined();
    expect(process.env.TWIN_ENVIRONMENT).toBe('edge');
    expect(process.env.TWIN_MODEL_DIR).toBe(join(dataDir, 'models'));
  });

  it('logs in, predicts and runs a batch, from the package it was given', async () => {
    token = await loginAs(twin.url);
    const predict = await callJson(twin.url, 'POST', '/api/v1/twin/predict', { token, body: validRow });
    expect(predict.status).toBe(200);
    expect(predict.json).toMatchObject({ user: 'admin', model: { name: 'reactor-yield', version: '1.0.0' } });
    const [lo, hi] = predict.json.confidence_interval as [number, number];
    expect(lo).toBeLessThanOrEqual(predict.json.prediction);
    expect(hi).toBeGreaterThanOrEqual(predict.json.prediction);

    const batch = await callJson(twin.url, 'POST', '/api/v1/twin/batch', { token, body: { inputs: [validRow, { ...validRow, temp: 450 }] } });
    expect(batch.status).toBe(200);
    expect(batch.json).toMatchObject({ total: 2, successful: 1, failed: 1 });
    expect(batch.json.errors[0]).toMatchObject({ index: 1 });

    // While serving, still no S3.
    for (const name of s3Variables) expect(process.env[name], name).toBeUndefined();
  });

  it('keeps its package, verified, on local disk under the data dir', async () => {
    const manifest = JSON.parse(await readFile(join(dataDir, 'models', 'reactor-yield', '1.0.0', 'manifest.json'), 'utf8')) as { sha256: string };
    const reference = JSON.parse(await readFile(join(referencePackageDir, 'manifest.json'), 'utf8')) as { sha256: string };
    expect(manifest.sha256).toBe(reference.sha256);
    const health = await callJson(twin.url, 'GET', '/health');
    expect(health.json).toMatchObject({ status: 'healthy', model_version: '1.0.0' });
  });

  it('opened no connection leaving the machine (it works with the network unplugged)', () => {
    expect(connections.length).toBeGreaterThan(0);
    const remote = connections.filter((host) => !(host.startsWith('unix:') || host === 'localhost' || host === '::1' || /^127\./.test(host)));
    expect(remote).toEqual([]);
  });
});

describe('refuses what it must not serve', () => {
  it('a package whose model.onnx does not match its digest (one byte flipped)', async () => {
    const pkg = await packageCopy(join(work, 'tampered'));
    const model = await readFile(join(pkg, 'model.onnx'));
    const middle = model.length >> 1;
    model[middle] = model[middle]! ^ 0x01;
    await writeFile(join(pkg, 'model.onnx'), model);
    await expect(startLocalTwin({ dataDir: join(work, 'tampered-data'), port: 0, edgeModel: pkg, adminPassword: edgeAdminPassword, dashboardDir: false })).rejects.toThrow(
      /model\.onnx digest mismatch: manifest says [0-9a-f]{64}, file is [0-9a-f]{64}/,
    );
  });

  it('a .tgz package whose manifest is invalid', async () => {
    const pkg = await packageCopy(join(work, 'bad-manifest'));
    const manifest = JSON.parse(await readFile(join(pkg, 'manifest.json'), 'utf8')) as { features: { max: number }[] };
    manifest.features[0]!.max = 0;
    await writeFile(join(pkg, 'manifest.json'), JSON.stringify(manifest));
    const file = await tarball(pkg, join(work, 'bad-manifest.tgz'));
    await expect(startLocalTwin({ dataDir: join(work, 'bad-manifest-data'), port: 0, edgeModel: file, adminPassword: edgeAdminPassword, dashboardDir: false })).rejects.toThrow(
      /manifest\.json is invalid: features\.0\.max: min must be below max/,
    );
  });

  it('plain HTTP on an address other than loopback, unless allowed explicitly', async () => {
    const pkg = await packageCopy(join(work, 'any-host'));
    for (const host of ['0.0.0.0', '::', '192.0.2.10']) {
      await expect(startLocalTwin({ dataDir: join(work, 'any-host-data'), port: 0, host, edgeModel: pkg, adminPassword: edgeAdminPassword, dashboardDir: false })).rejects.toThrow(
        `Refusing plain HTTP on ${host}`,
      );
    }
    // Nothing was started or written for them.
    await expect(stat(join(work, 'any-host-data'))).rejects.toThrow();
  });
});

/** A TLS handshake pinned to one protocol version; resolves the negotiated version, rejects with the error code. */
function handshake(port: number, ca: Buffer, version: SecureVersion): Promise<string> {
  return new Promise((done, fail) => {
    const socket = tlsConnect({
      host: '127.0.0.1',
      port,
      ca,
      minVersion: version,
      maxVersion: version,
      // OpenSSL 3 refuses TLS 1.0/1.1 on the client side at its default security level; lower it so that
      // the refusal, if any, is the server's.
      ciphers: 'DEFAULT@SECLEVEL=0',
    });
    socket.once('secureConnect', () => {
      done(String(socket.getProtocol()));
      socket.end();
    });
    socket.once('error', (error: NodeJS.ErrnoException) => fail(Object.assign(new Error(error.message), { code: error.code })));
  });
}

describe('edge mode over HTTPS, from a .tgz package', () => {
  let twin: LocalTwin;
  let ca: Buffer;
  let port: number;

  beforeAll(async () => {
    const certificate = await selfSignedCertificate(work);
    ca = certificate.cert;
    const file = await tarball(await packageCopy(join(work, 'tls-package')), join(work, 'reactor-yield-1.0.0.tgz'));
    twin = await startLocalTwin({
      dataDir: join(work, 'tls-data'),
      port: 0,
      edgeModel: file,
      adminPassword: edgeAdminPassword,
      dashboardDir: false,
      tls: { cert: certificate.cert, key: certificate.key },
    });
    port = Number(new URL(twin.url).port);
  });

  afterAll(async () => {
    await twin?.stop();
  });

  it('serves HTTPS with the certificate it was given', async () => {
    expect(twin.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const health = await httpsJson(`${twin.url}/health`, ca, 'GET');
    expect(health.status).toBe(200);
    expect(health.json).toMatchObject({ status: 'healthy', model_version: '1.0.0' });
    expect(health.protocol).toBe('TLSv1.3');
    const login = await httpsJson(`${twin.url}/api/v1/auth/login`, ca, 'POST', { body: { username: 'admin', password: edgeAdminPassword } });
    expect(login.status).toBe(200);
    expect(typeof login.json.token).toBe('string');
  });

  it('accepts TLS 1.2 and refuses a client that speaks only TLS 1.1', async () => {
    await expect(handshake(port, ca, 'TLSv1.2')).resolves.toBe('TLSv1.2');
    await expect(handshake(port, ca, 'TLSv1.1')).rejects.toMatchObject({ code: 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION' });
  });

  it('answers plain HTTP on its port with no API response', async () => {
    await expect(fetch(`http://127.0.0.1:${port}/health`)).rejects.toThrow();
  });

  it('serves authenticated routes over HTTPS: login, then predict with the token', async () => {
    const login = await httpsJson(`${twin.url}/api/v1/auth/login`, ca, 'POST', { body: { username: 'admin', password: edgeAdminPassword } });
    const predict = await httpsJson(`${twin.url}/api/v1/twin/predict`, ca, 'POST', { token: login.json.token as string, body: validRow });
    // With TLS the gateway's authorizer takes the signer's keys in-process (infra/local/twin.ts `keys`): fetched from
    // the issuer URL (https://127.0.0.1:<port>) with Node's default trust store, which holds no self-signed or
    // plant-CA certificate, every protected route answered 401 (docs/edge.md).
    expect(predict.status).toBe(200);
    expect(predict.json).toMatchObject({ model: { name: 'reactor-yield', version: '1.0.0' } });
  });
});
