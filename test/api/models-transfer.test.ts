import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pullModel } from '../../client/edge.js';
import { inlinePublishMaxBytes, TwinClient } from '../../client/sdk.js';
import { maxInlineDownloadBytes } from '../../functions/core/models/requests.js';
import { lambdaMaxEventBytes } from '../../infra/local/gateway.js';
import { modelName, smallForestPackage, startModelTwin } from '../support/models.js';
import { adminPassword, adminUsername, apiClient, login, type Api, type TestTwin } from '../support/twin.js';

/**
 * Model files larger than Lambda's 6 MB payload move beside the API: a presigned S3 PUT before the publish
 * call names the upload, a presigned GET in the package answer. The local twin does the same against its
 * embedded S3, and its gateway refuses what Lambda would refuse.
 */

let t: TestTwin;
let api: Api;
let admin: string;
let client: TwinClient;
let outDir: string;
// A valid model just over the inline limits (the doc string pads it), published once for the file.
const big = smallForestPackage('3.0.0', 11, { padBytes: Math.max(inlinePublishMaxBytes, maxInlineDownloadBytes) + 64 * 1024 });

beforeAll(async () => {
  t = await startModelTwin();
  api = apiClient(t.url);
  admin = await login(api);
  client = new TwinClient({ baseUrl: t.url, username: adminUsername, password: adminPassword });
  outDir = await mkdtemp(join(tmpdir(), 'twinserve-pull-'));
});

afterAll(async () => {
  await t?.stop();
  if (outDir) await rm(outDir, { recursive: true, force: true });
});

describe('large models (happy)', () => {
  it('the SDK publishes a model over the inline limit through a presigned upload', async () => {
    // Prepare
    expect(big.bytes.length).toBeGreaterThan(inlinePublishMaxBytes);
    // Act
    const published = await client.models.publish(modelName, { manifest: big.manifest, model: big.bytes });
    // Assess
    expect(published).toMatchObject({ version: '3.0.0', published: true, sha256: big.manifest.sha256 });
    expect((await api('GET', `/api/v1/models/${modelName}/versions`, { token: admin })).json.versions.map((v: { version: string }) => v.version)).toContain('3.0.0');
  });

  it('the package answer of a large model carries a presigned URL instead of the bytes', async () => {
    const res = await api('GET', `/api/v1/models/${modelName}/versions/3.0.0/package`, { token: admin });
    expect(res.status).toBe(200);
    expect(res.json.model_base64).toBeUndefined();
    expect(res.json.model_url).toMatch(/X-Amz-Signature=/);
    // The URL alone is the authorization: no bearer token.
    const fetched = new Uint8Array(await (await fetch(res.json.model_url)).arrayBuffer());
    expect(Buffer.from(fetched).equals(Buffer.from(big.bytes))).toBe(true);
  });

  it('SDK downloadModel and `twin models pull` (pullModel) fetch it and verify the digest', async () => {
    const downloaded = await client.models.downloadModel(modelName, '3.0.0');
    expect(Buffer.from(downloaded.model).equals(Buffer.from(big.bytes))).toBe(true);
    const pulled = await pullModel({ from: t.url, token: admin, name: modelName, version: '3.0.0', outDir });
    expect(pulled.bytes).toBe(big.bytes.length);
    expect(Buffer.from(await readFile(join(pulled.dir, 'model.onnx'))).equals(Buffer.from(big.bytes))).toBe(true);
  });

  it('a small model still comes inline, with the URL beside it', async () => {
    const res = await api('GET', `/api/v1/models/${modelName}/versions/1.0.0/package`, { token: admin });
    expect(res.status).toBe(200);
    expect(typeof res.json.model_base64).toBe('string');
    expect(typeof res.json.model_url).toBe('string');
  });
});

describe('large models (error)', () => {
  it("refuses an inline publish over Lambda's 6 MB event with 413, before any function runs", async () => {
    const body = { manifest: big.manifest, model_base64: Buffer.alloc(Math.ceil((lambdaMaxEventBytes * 3) / 4) + 1024, 1).toString('base64') };
    const res = await api('POST', `/api/v1/models/${modelName}/versions`, { token: admin, body });
    expect(res.status).toBe(413);
    expect(res.json).toEqual({ message: 'Request Entity Too Large' });
  });

  it('names upload_id when nothing was uploaded for it', async () => {
    const res = await api('POST', `/api/v1/models/${modelName}/versions`, {
      token: admin,
      body: { manifest: big.manifest, upload_id: '0b9f4a1e-2c3d-4e5f-8a9b-0c1d2e3f4a5b' },
    });
    expect(res.status).toBe(400);
    expect(res.json.error.issues).toContainEqual(expect.objectContaining({ field: 'upload_id', rule: 'uploaded' }));
  });

  it('wants exactly one of model_base64 and upload_id', async () => {
    const both = await api('POST', `/api/v1/models/${modelName}/versions`, {
      token: admin,
      body: { manifest: big.manifest, model_base64: 'AAAA', upload_id: '0b9f4a1e-2c3d-4e5f-8a9b-0c1d2e3f4a5b' },
    });
    const neither = await api('POST', `/api/v1/models/${modelName}/versions`, { token: admin, body: { manifest: big.manifest } });
    for (const res of [both, neither]) {
      expect(res.status).toBe(400);
      expect(res.json.error.issues).toContainEqual(expect.objectContaining({ field: 'model_base64' }));
    }
  });

  it('checks uploaded bytes exactly as inline ones: a digest mismatch is refused and nothing is published', async () => {
    // Prepare: an upload URL, and bytes that are not the manifest's model.
    const upload = await api('POST', `/api/v1/models/${modelName}/uploads`, { token: admin });
    expect(upload.status).toBe(201);
    const put = await fetch(upload.json.url, { method: 'PUT', headers: upload.json.headers, body: Buffer.from('not the model') });
    expect(put.ok).toBe(true);
    // Act
    const res = await api('POST', `/api/v1/models/${modelName}/versions`, {
      token: admin,
      body: { manifest: { ...big.manifest, version: '3.0.1' }, upload_id: upload.json.upload_id },
    });
    // Assess
    expect(res.status).toBe(400);
    expect(res.json.error.issues).toContainEqual(expect.objectContaining({ field: 'manifest.sha256', rule: 'digest' }));
    expect((await api('GET', `/api/v1/models/${modelName}/versions`, { token: admin })).json.versions.map((v: { version: string }) => v.version)).not.toContain('3.0.1');
  });
});

describe('large models (security)', () => {
  it('an upload URL needs models:write', async () => {
    const res = await api('POST', `/api/v1/models/${modelName}/uploads`);
    expect(res.status).toBe(401);
  });
});
