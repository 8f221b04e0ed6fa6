import onnxProto from 'onnx-proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKey, keyToken, userWithToken } from '../support/identity.js';
import { auditRecords, outOfBandRow, publishBody, sinkMessages, referencePackage, smallForestPackage, startModelTwin, type TestPackage } from '../support/models.js';
import { apiClient, login, type Api, type TestTwin } from '../support/twin.js';
import { sha256Hex } from '../../functions/core/manifest.js';
import { readUnambiguousModel } from '../../functions/core/models/onnx-wire.js';
import { trainRandomForest } from '../../models/tools/forest.js';
import { latinHypercube } from '../../models/tools/lhs.js';
import { exportForestOnnx } from '../../models/tools/onnx-export.js';
import { REACTOR_FEATURES } from '../../models/tools/reactor.js';

/**
 * The third hostile review (as the lowest principals of another plant and a hostile package author), after
 * the graph check's fast path (the original bytes go to onnxruntime when the strict reader finds them
 * unambiguous), the alert cap, the shared batch writer and the in-process SigV4 gates. What got through is
 * each a test here: onnxruntime read any bytes with "ORTM" at offset 4 as its own flatbuffer format, not the
 * ModelProto the check read; one plant's input of 1e-300 (DynamoDB keeps nothing below 1e-130) failed the
 * BatchWriteItem carrying other plants' audit records and served rows; a measured value of 1e-300, or of 1e-70
 * against a prediction of 0 (a squared error of 1e-140), answered 500; anomaly alerts carried no `plant`
 * attribute for a plant's SNS subscription to filter on; and a plant viewer's presigned URL, re-signed over a
 * header named `constructor`, crashed the stores' process (the twin's whole data path).
 */

const { onnx } = onnxProto;

let t: TestTwin;
let api: Api;
let admin: string;
const a = { admin: '', operator: '', viewer: '' };
const b = { operator: '', feedback: '' };
const row = { temp: 360, pressure: 6, flow: 100 };

beforeAll(async () => {
  t = await startModelTwin();
  api = apiClient(t.url);
  admin = await login(api);
  a.admin = (await userWithToken(api, admin, { username: 'rt3-a-admin', role: 'admin', plant: 'plant-a' })).token;
  a.operator = (await userWithToken(api, admin, { username: 'rt3-a-op', role: 'operator', plant: 'plant-a' })).token;
  a.viewer = (await userWithToken(api, admin, { username: 'rt3-a-viewer', role: 'viewer', plant: 'plant-a' })).token;
  const bAdmin = (await userWithToken(api, admin, { username: 'rt3-b-admin', role: 'admin', plant: 'plant-b' })).token;
  b.operator = (await userWithToken(api, admin, { username: 'rt3-b-op', role: 'operator', plant: 'plant-b' })).token;
  b.feedback = await keyToken(api, (await createKey(api, bAdmin, { name: 'b lab', scopes: ['twin:feedback'] })).key);
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

describe('the shared batch writer', () => {
  it("an input too small for DynamoDB (1e-300) never costs another plant's concurrent predictions their lab values", async () => {
    // Prepare: plant A's forest takes flow in ±1000, so 1e-300 is a valid input (DynamoDB keeps no number
    // of magnitude below 1e-130: one such number fails the whole BatchWriteItem that carries it).
    const pkg = smallForestPackage('1.0.0', 5);
    const features = (pkg.manifest.features as { name: string; unit: string; min: number; max: number }[]).map((f) => ({ ...f, min: -1000, max: 1000 }));
    const tiny: TestPackage = { manifest: { ...pkg.manifest, name: 'tiny-a', features }, bytes: pkg.bytes };
    expect((await api('POST', '/api/v1/models/tiny-a/versions', { token: a.admin, body: publishBody(tiny) })).status).toBe(201);
    expect((await api('POST', '/api/v1/models/tiny-a/activate', { token: a.admin, body: { version: '1.0.0' } })).status).toBe(200);

    // Act: both plants predict at once, rounds of 20 each; then plant B reports its lab values.
    const bIds: string[] = [];
    for (let round = 0; round < 3; round++) {
      const calls = Array.from({ length: 40 }, (_, i) =>
        i % 2
          ? api('POST', '/api/v1/models/tiny-a/predict', { token: a.operator, body: { ...row, flow: 1e-300 } })
          : api('POST', '/api/v1/models/reactor-yield/predict', { token: b.operator, body: { ...row, flow: 60 + i + round / 10 } }),
      );
      const answers = await Promise.all(calls);
      answers.forEach((res, i) => {
        expect(res.status, res.text).toBe(200);
        if (i % 2 === 0) bIds.push(res.headers.get('x-request-id')!);
      });
    }
    const feedback = await api('POST', '/api/v1/models/reactor-yield/feedback', { token: b.feedback, body: { observations: bIds.map((id) => ({ request_id: id, value: 84 })) } });

    const audited = await auditRecords(api, admin, { principal: 'rt3-b-op', action: 'twin.predict' });

    // Assert: every row of plant B kept, and every request of plant B audited once.
    expect(feedback.json).toMatchObject({ total: 60, accepted: 60, unknown: 0 });
    expect(audited.map((r) => r.requestId).sort()).toEqual([...bIds].sort());
  });
});

describe('measured values too small for a store', () => {
  it('a value of 1e-300 is a 400 naming the field, not a 500 after a refused write', async () => {
    // Prepare
    const predicted = await api('POST', '/api/v1/models/reactor-yield/predict', { token: b.operator, body: row });
    expect(predicted.status, predicted.text).toBe(200);

    // Act
    const res = await api('POST', '/api/v1/models/reactor-yield/feedback', { token: b.feedback, body: { observations: [{ request_id: predicted.headers.get('x-request-id'), value: 1e-300 }] } });

    // Assert
    expect(res.status, res.text).toBe(400);
    expect(res.json.error.issues[0].field).toBe('observations.0.value');
  });

  it('a value whose squared error is below 1e-130 (1e-70 against a prediction of 0) is accepted and counted', async () => {
    // Prepare: plant A's forest predicts 0 everywhere.
    const x = latinHypercube(120, REACTOR_FEATURES, 13).map((r) => r.map(Math.fround));
    const forest = trainRandomForest(x, x.map(() => 0), { nTrees: 3, maxDepth: 2, minSamplesLeaf: 3, maxFeatures: 3, seed: 5 });
    const bytes = exportForestOnnx(forest, { graphName: 'zero', docString: 'zero' });
    const zero: TestPackage = { manifest: { ...smallForestPackage('1.0.0').manifest, name: 'zero-a', alerts: { min: -1, max: 1 }, sha256: sha256Hex(bytes) }, bytes };
    expect((await api('POST', '/api/v1/models/zero-a/versions', { token: a.admin, body: publishBody(zero) })).status).toBe(201);
    expect((await api('POST', '/api/v1/models/zero-a/activate', { token: a.admin, body: { version: '1.0.0' } })).status).toBe(200);
    const predicted = await api('POST', '/api/v1/models/zero-a/predict', { token: a.operator, body: row });
    expect(predicted.json.prediction).toBe(0);
    const lab = await keyToken(api, (await createKey(api, a.admin, { name: 'a lab', scopes: ['twin:feedback'] })).key);

    // Act
    const res = await api('POST', '/api/v1/models/zero-a/feedback', { token: lab, body: { observations: [{ request_id: predicted.headers.get('x-request-id'), value: 1e-70 }] } });
    const view = await api('GET', '/api/v1/models/zero-a/quality', { token: a.admin });

    // Assert
    expect(res.status, res.text).toBe(200);
    expect(res.json.accepted).toBe(1);
    expect(view.json.versions[0].windows.all.count).toBe(1);
  });
});

describe("a plant's alerts on SNS", () => {
  it("carry the plant as a message attribute, so a subscription filtered on it gets them (and no other plant's)", async () => {
    // Prepare / Act: plant B's operator predicts out of band.
    const res = await api('POST', '/api/v1/models/reactor-yield/predict', { token: b.operator, body: outOfBandRow });
    expect(res.status, res.text).toBe(200);
    const requestId = res.headers.get('x-request-id');

    // Assert
    const alert = (await sinkMessages(t)).find((m) => (m.message as { requestId?: string }).requestId === requestId);
    expect(alert?.message).toMatchObject({ type: 'anomaly', plant: 'plant-b' });
    expect(alert?.attributes.plant).toBe('plant-b');
  });
});

/** `now` as SigV4 writes it: 20261203T161500Z. */
function amzDate(now = new Date()): string {
  return now.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

// Last: when the stores' process falls, every later call of this twin fails.
describe("the stores' SigV4 gates", () => {
  it("a plant viewer's presigned URL, re-signed over a header named `constructor`, is refused and the stores stay up", async () => {
    // Prepare: any model:read principal gets a presigned URL, which names the gate and the store's key id.
    const pkg = await api('GET', '/api/v1/models/reactor-yield/versions/1.0.0/package', { token: a.viewer });
    expect(pkg.status, pkg.text).toBe(200);
    const url = new URL(pkg.json.model_url as string);
    const keyId = url.searchParams.get('X-Amz-Credential')!.split('/')[0]!;
    const date = amzDate();
    const forged = new URL(url.pathname, url.origin);
    forged.search = new URLSearchParams({
      'X-Amz-Algorithm': 'AWS4-HMAC-SHA256',
      'X-Amz-Credential': `${keyId}/${date.slice(0, 8)}/us-east-1/s3/aws4_request`,
      'X-Amz-Date': date,
      'X-Amz-Expires': '60',
      'X-Amz-SignedHeaders': 'constructor;host',
      'X-Amz-Signature': '0'.repeat(64),
    }).toString();

    // Act
    const refused = await fetch(forged).then((res) => res.status);
    const after = await api('POST', '/api/v1/models/reactor-yield/predict', { token: a.operator, body: row });

    // Assert
    expect(refused).toBe(403);
    expect(after.status, after.text).toBe(200);
  });
});
