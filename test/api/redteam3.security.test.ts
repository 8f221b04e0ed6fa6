import onnxProto from 'onnx-proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { userWithToken } from '../support/identity.js';
import { publishBody, referencePackage, startModelTwin, type TestPackage } from '../support/models.js';
import { apiClient, login, type Api, type TestTwin } from '../support/twin.js';
import { sha256Hex } from '../../functions/core/manifest.js';
import { readUnambiguousModel } from '../../functions/core/models/onnx-wire.js';

/**
 * The third hostile review (as the lowest principals of another plant and a hostile package author), after
 * the graph check's fast path (the original bytes go to onnxruntime when the strict reader finds them
 * unambiguous), the alert cap, the shared batch writer and the in-process SigV4 gates. What got through is
 * each a test here. onnxruntime reads any bytes with "ORTM" at offset 4 as its own flatbuffer format (ORT
 * format), not as the ModelProto the check read: a ModelProto whose first field is a string starting with
 * two NULs and "ORTM" was checked as ONNX and handed to a different parser.
 */

const { onnx } = onnxProto;

let t: TestTwin;
let api: Api;
const a = { admin: '', operator: '' };
const row = { temp: 360, pressure: 6, flow: 100 };

beforeAll(async () => {
  t = await startModelTwin();
  api = apiClient(t.url);
  const admin = await login(api);
  a.admin = (await userWithToken(api, admin, { username: 'rt3-a-admin', role: 'admin', plant: 'plant-a' })).token;
  a.operator = (await userWithToken(api, admin, { username: 'rt3-a-op', role: 'operator', plant: 'plant-a' })).token;
});

afterAll(async () => {
  await t?.stop();
});

/** The reference model with its producer_name moved to the front as "\0\0ORTM": bytes 4..7 read "ORTM". */
async function ortMarkedPackage(name: string): Promise<TestPackage> {
  const ref = await referencePackage();
  const model = onnx.ModelProto.decode(ref.bytes);
  delete (model as { producerName?: string }).producerName;
  const marker = Uint8Array.from([0x12, 0x06, 0, 0, 0x4f, 0x52, 0x54, 0x4d]);
  const rest = onnx.ModelProto.encode(model).finish();
  const bytes = new Uint8Array(marker.length + rest.length);
  bytes.set(marker, 0);
  bytes.set(rest, marker.length);
  return { manifest: { ...ref.manifest, name, version: '1.0.0', sha256: sha256Hex(bytes) }, bytes };
}

describe("a plant admin's hostile package", () => {
  it('bytes that read "ORTM" at offset 4 are run as the ModelProto that was checked, never as an ORT-format model', async () => {
    // Prepare: the strict reader takes these bytes (the fast path: onnxruntime gets them as they are).
    const pkg = await ortMarkedPackage('ortm-a');
    expect(Buffer.from(pkg.bytes.subarray(4, 8)).toString('latin1')).toBe('ORTM');
    expect(readUnambiguousModel(pkg.bytes)?.graph).toBeTruthy();

    // Act
    const published = await api('POST', '/api/v1/models/ortm-a/versions', { token: a.admin, body: publishBody(pkg) });
    const activated = await api('POST', '/api/v1/models/ortm-a/activate', { token: a.admin, body: { version: '1.0.0' } });
    const predicted = await api('POST', '/api/v1/models/ortm-a/predict', { token: a.operator, body: row });

    // Assert: onnxruntime parsed the ModelProto (the reference model's answer), not a flatbuffer.
    expect(published.status, published.text).toBe(201);
    expect(activated.status, activated.text).toBe(200);
    expect(predicted.status, predicted.text).toBe(200);
    expect(typeof predicted.json.prediction).toBe('number');
  });
});
