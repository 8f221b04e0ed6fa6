import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { maxPublishBytes } from '../../infra/local/sns-sink.js';
import { relaxedLoginEnv, startTwinWithEnv, userWithToken } from '../support/identity.js';
import { outOfBandRow } from '../support/models.js';
import { apiClient, login, type Api, type TestTwin } from '../support/twin.js';

/**
 * The local twin's SNS endpoint is a way into every plant's alert stream (what it receives is replayed and sent
 * live to the plant the message names) and into alerts.jsonl and the webhook. Like the stores behind their SigV4
 * gates, it takes only what is signed with the twin's own store credentials (the functions' SNS client signs with
 * them): another process on the box cannot forge a plant's alert, nor make the sink hold a body of any size.
 */

const topic = 'arn:aws:sns:us-east-1:000000000000:twinserve-local-alerts';
let t: TestTwin;
let api: Api;
let root: string;

beforeAll(async () => {
  t = await startTwinWithEnv({ ...relaxedLoginEnv, TWIN_RATE_LIMIT_PER_MINUTE: '100000' });
  api = apiClient(t.url);
  root = await login(api);
}, 60_000);

afterAll(async () => {
  await t?.stop();
});

const forged = JSON.stringify({ type: 'anomaly', plant: 'north', model: 'reactor-yield', principal: 'forger', severity: 'critical' });
const kept = async () => (await t.twin.sns.recent(1_000)).map((m) => (m.message as { principal?: string }).principal);

function client(credentials: { accessKeyId: string; secretAccessKey: string }): SNSClient {
  return new SNSClient({ endpoint: t.twin.sns.endpoint!, region: 'us-east-1', credentials, maxAttempts: 1 });
}

describe('the local SNS endpoint takes only the twin’s own signed publishes', () => {
  it('an unsigned Publish (another process on the box) is refused (403) and reaches no stream, file or replay', async () => {
    const body = new URLSearchParams({ Action: 'Publish', TopicArn: topic, Message: forged });
    const res = await fetch(t.twin.sns.endpoint!, { method: 'POST', body });
    expect(res.status).toBe(403);
    expect(await res.text()).toContain('MissingAuthenticationToken');
    expect(await kept()).not.toContain('forger');
  });

  it('a Publish signed with other credentials is refused', async () => {
    const sns = client({ accessKeyId: 'AKIAOTHERPROCESS', secretAccessKey: 'not-the-twins' });
    const error = await sns.send(new PublishCommand({ TopicArn: topic, Message: forged })).then(
      () => undefined,
      (e: unknown) => e as { $metadata?: { httpStatusCode?: number } },
    );
    sns.destroy();
    expect(error?.$metadata?.httpStatusCode).toBe(403);
    expect(await kept()).not.toContain('forger');
  });

  it('a signed body larger than any SNS message is refused (413), not held', async () => {
    const sns = client(t.twin.storeCredentials);
    const error = await sns.send(new PublishCommand({ TopicArn: topic, Message: 'x'.repeat(maxPublishBytes + 1) })).then(
      () => undefined,
      (e: unknown) => e as { $metadata?: { httpStatusCode?: number } },
    );
    sns.destroy();
    expect(error?.$metadata?.httpStatusCode).toBe(413);
  });

  it('what held: the twin’s own alerts arrive (its SNS client signs with the store credentials), and a signed Publish is taken', async () => {
    const nora = await userWithToken(api, root, { username: 'nora', role: 'operator', plant: 'north' });
    expect((await api('POST', '/api/v1/twin/predict', { token: nora.token, body: outOfBandRow })).status).toBe(200);
    let seen = false;
    for (let i = 0; i < 200 && !seen; i++) {
      seen = (await kept()).includes('nora');
      if (!seen) await new Promise((resolve) => setTimeout(resolve, 25));
    }
    expect(seen).toBe(true);
    const sns = client(t.twin.storeCredentials);
    const out = await sns.send(new PublishCommand({ TopicArn: topic, Message: JSON.stringify({ type: 'anomaly', plant: 'south', model: 'reactor-yield', principal: 'signed' }) }));
    sns.destroy();
    expect(out.MessageId).toMatch(/^[0-9a-f-]{36}$/);
    expect(await kept()).toContain('signed');
  });
});
