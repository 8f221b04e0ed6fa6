import { Agent, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { startSigV4Gate } from '../infra/local/sigv4-gate.mjs';
import { repeated, type Repeated } from './stats.js';

/**
 * The sdk stage: what one AWS SDK call costs the calling process, apart from any store. A document-client
 * GetItem, sent one at a time to an echo endpoint on loopback that answers `{}` at once, timed with
 * process.cpuUsage (user + system of this process, which also runs that endpoint and, in the second figure, a
 * SigV4 gate: infra/local/sigv4-gate.mjs, which the local twin runs in its stores' process since issue 16, so
 * the difference is what moving it saved the serving process per call). The serving process pays the first
 * figure per store call, so it bounds a request's CPU from below by (calls per request) × this (docs/performance.md).
 */

export interface SdkCallResult {
  /** CPU per call, SDK and the echo endpoint only (µs). */
  directUs: Repeated;
  /** CPU per call through the SigV4 gate, as the local twin's handlers send it (µs). */
  viaGateUs: Repeated;
  /** The echo endpoint alone (a node:http keep-alive round trip, no SDK): the transport's share (µs). */
  roundTripUs: Repeated;
  /**
   * What waking from idle costs a node process on this machine: CPU per cycle of a 2 ms timer that does
   * nothing (µs). A store call at one connection idles both processes and wakes each; on a virtual machine
   * this is far from free (docs/performance.md, "What bounds each").
   */
  wakeUs: Repeated;
}

const credentials = { accessKeyId: 'AKIDBENCHSDKCALL', secretAccessKey: 'bench-sdk-call-secret' };

async function cpuPerCall(calls: number, send: (i: number) => Promise<unknown>): Promise<number> {
  for (let i = 0; i < Math.min(100, calls); i++) await send(i);
  const before = process.cpuUsage();
  for (let i = 0; i < calls; i++) await send(i);
  const used = process.cpuUsage(before);
  return (used.user + used.system) / calls;
}

export async function runSdkCall(options: { reps: number; calls: number }): Promise<SdkCallResult> {
  const echo = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/x-amz-json-1.0' });
      res.end('{}');
    });
  });
  await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', () => resolve()));
  const echoUrl = `http://127.0.0.1:${(echo.address() as AddressInfo).port}`;
  const gate = await startSigV4Gate({ service: 'dynamodb', credentials, upstream: { url: echoUrl } });
  const client = (endpoint: string) => DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1', endpoint, credentials }));
  const direct = client(echoUrl);
  const viaGate = client(gate.endpoint);
  const get = (db: DynamoDBDocumentClient) => (i: number) => db.send(new GetCommand({ TableName: 'bench', Key: { pk: `k${i % 10}` } }));
  // node:http with a keep-alive agent, as the SDK's handler sends.
  const agent = new Agent({ keepAlive: true });
  const plain = () =>
    new Promise<void>((resolve, reject) => {
      const req = request(echoUrl, { method: 'POST', agent }, (res) => {
        res.resume();
        res.on('end', () => resolve());
      });
      req.on('error', reject);
      req.end('{}');
    });
  const wake = () => new Promise<void>((resolve) => setTimeout(resolve, 2));
  const runs = { direct: [] as number[], viaGate: [] as number[], roundTrip: [] as number[], wake: [] as number[] };
  try {
    for (let rep = 0; rep < options.reps; rep++) {
      runs.direct.push(await cpuPerCall(options.calls, get(direct)));
      runs.viaGate.push(await cpuPerCall(options.calls, get(viaGate)));
      runs.roundTrip.push(await cpuPerCall(options.calls, plain));
      runs.wake.push(await cpuPerCall(Math.min(300, options.calls), wake));
    }
  } finally {
    agent.destroy();
    direct.destroy();
    viaGate.destroy();
    await gate.close();
    await new Promise<void>((resolve) => echo.close(() => resolve()));
  }
  return { directUs: repeated(runs.direct), viaGateUs: repeated(runs.viaGate), roundTripUs: repeated(runs.roundTrip), wakeUs: repeated(runs.wake) };
}
