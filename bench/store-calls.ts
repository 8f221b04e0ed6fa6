/**
 * Wall time and CPU of single dynalite calls, through the stores' process started as the twin starts it
 * (`startEmbeddedStores`: dynalite behind the SigV4 gate, in its own process): the stats `UpdateItem` and
 * `BatchWriteItem`s of audit records and served rows like a prediction's round of writes, sent with the real
 * SDK one at a time, then a batch and an update in flight together as at 16 connections. CPU per call is
 * the stores' process's, from /proc, split by thread (main, V8's helpers "node", libuv's thread pool).
 * docs/performance.md, "What bounds the store calls".
 *
 *   npx tsx bench/store-calls.ts                  # every measure
 *   npx tsx bench/store-calls.ts --only batch     # 600 24-item BatchWriteItems (with TWIN_STORES_CPU_PROF_DIR: a profile)
 *   npx tsx bench/store-calls.ts --only update    # 3,000 UpdateItems
 */
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir, loadavg } from 'node:os';
import { join } from 'node:path';
import { CreateTableCommand, DescribeTableCommand, DynamoDBClient, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

import { parseArgs } from 'node:util';
import { createTableInput, localTableName } from '../infra/local/seed.js';
import { startEmbeddedStores } from '../infra/local/stores.js';
import { tables, type TableDef } from '../infra/tables.js';

const only = parseArgs({ options: { only: { type: 'string' } } }).values.only;

const cpu = (pid: number) => { const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' '); return (Number(f[11]) + Number(f[12])) * 10_000; }; // µs
const threads = (pid: number) => { const r: Record<string, number> = {}; for (const t of readdirSync(`/proc/${pid}/task`)) { try { const st = readFileSync(`/proc/${pid}/task/${t}/stat`, 'utf8'); const name = st.slice(st.indexOf('(') + 1, st.indexOf(')')); const f = st.split(') ')[1]!.split(' '); const k = t === String(pid) ? 'main' : name; r[k] = (r[k] ?? 0) + (Number(f[11]) + Number(f[12])) * 10_000; } catch {} } return r; };
const dir = await mkdtemp(join(tmpdir(), 'stlat-'));
const creds = { accessKeyId: 'AKIDSCRATCH', secretAccessKey: 'scratchsecret' };
const stores = await startEmbeddedStores(dir, creds, { s3: false });
const raw = new DynamoDBClient({ region: 'eu-west-1', endpoint: stores.dynamodbEndpoint, credentials: creds });
const doc = DynamoDBDocumentClient.from(raw, { marshallOptions: { removeUndefinedValues: true } });
const T = (id: string) => localTableName(tables.find((t) => t.id === id) as TableDef);
for (const id of ['AuditLog', 'Predictions', 'Stats']) await raw.send(new CreateTableCommand(createTableInput(tables.find((t) => t.id === id) as TableDef)));
// dynalite answers CreateTable with CREATING and flips the table to ACTIVE on a timer: writes before that are refused.
for (const id of ['AuditLog', 'Predictions', 'Stats']) {
  while ((await raw.send(new DescribeTableCommand({ TableName: T(id) }))).Table?.TableStatus !== 'ACTIVE') await new Promise((resolve) => setTimeout(resolve, 5));
}
let n = 0;
const audit = () => { const i = n++; return { principal: `user#alice`, sk: `2026-12-03T23:00:00.${String(i).padStart(6, '0')}Z#req-${i}-abcdef0123456789`, day: '2026-12-03', ttl: 1800000000, success: true, route: 'POST /api/v1/twin/predict', status: 200, plant: 'plant-a', model: 'reactor-yield', version: '1.0.0', latencyMs: 3.2, requestId: `req-${i}`, sourceIp: '127.0.0.1', userAgent: 'autocannon' }; };
const pred = () => { const i = n++; return { id: `req-${i}-abcdef0123456789`, model: 'reactor-yield', psk: `plant-a#2026-12-03T23:00:00.${i}Z`, plant: 'plant-a', version: '1.0.0', ttl: 1800000000, principal: 'user#alice', rows: [{ inputs: [360.1, 6.2, 12.5], prediction: 0.8123, low: 0.7, high: 0.9 }] }; };
const batch = (k: number) => doc.send(new BatchWriteCommand({ RequestItems: { [T('AuditLog')]: Array.from({ length: k }, () => ({ PutRequest: { Item: audit() } })), [T('Predictions')]: Array.from({ length: k }, () => ({ PutRequest: { Item: pred() } })) } }));
const update = (s: number) => raw.send(new UpdateItemCommand({ TableName: T('Stats'), Key: { pk: { S: 'reactor-yield#1.0.0' }, sk: { S: `live#${s}` } }, UpdateExpression: 'ADD requests :q, errors :e, predictions :r, predictionSum :p, latencySumMs :l, cacheHits :c, alerts :a, h3 :h', ExpressionAttributeValues: { ':q': { N: '12' }, ':e': { N: '0' }, ':r': { N: '12' }, ':p': { N: '9.7321' }, ':l': { N: '41.25' }, ':c': { N: '0' }, ':a': { N: '0' }, ':h': { N: '12' } } }));

const pct = (xs: number[], p: number) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))]!; };
async function serial(name: string, count: number, call: () => Promise<unknown>) {
  for (let i = 0; i < 30; i++) await call();
  const c0 = cpu(stores.pid); const t0 = threads(stores.pid); const walls: number[] = [];
  for (let i = 0; i < count; i++) { const t = performance.now(); await call(); walls.push(performance.now() - t); }
  const c1 = cpu(stores.pid); const t1 = threads(stores.pid);
  const split = Object.keys(t1).map((k) => `${k} ${((t1[k]! - (t0[k] ?? 0)) / count / 1000).toFixed(2)}`).filter((x) => !x.endsWith(' 0.00')).join(', ');
  return `${name}: wall p50 ${pct(walls, 0.5).toFixed(2)} ms p90 ${pct(walls, 0.9).toFixed(2)} ms; stores CPU/call ${((c1 - c0) / count / 1000).toFixed(2)} ms (${split})`;
}
// Twin-like at 16 connections: one batch and one update in flight at once, back to back, for `ms`.
async function mixed(k: number, ms: number) {
  const end = performance.now() + ms; const c0 = cpu(stores.pid); const bw: number[] = []; const uw: number[] = [];
  await Promise.all([
    (async () => { while (performance.now() < end) { const t = performance.now(); await batch(k); bw.push(performance.now() - t); } })(),
    (async () => { let s = 0; while (performance.now() < end) { const t = performance.now(); await update(s++ % 4); uw.push(performance.now() - t); } })(),
  ]);
  const c1 = cpu(stores.pid); const calls = bw.length + uw.length;
  return `mixed k=${k}: batches ${(bw.length / ms * 1000).toFixed(0)}/s wall p50 ${pct(bw, 0.5).toFixed(2)} p99 ${pct(bw, 0.99).toFixed(2)} ms; updates ${(uw.length / ms * 1000).toFixed(0)}/s wall p50 ${pct(uw, 0.5).toFixed(2)} ms; stores busy ${((c1 - c0) / ms / 10).toFixed(0)} %, CPU/call ${((c1 - c0) / calls / 1000).toFixed(2)} ms`;
}
const out = [`stores' process, load average ${loadavg()[0]!.toFixed(1)}`];
if (only === 'batch') { out.push(await serial('batch 12+12', 600, () => batch(12))); } else if (only === 'update') { out.push(await serial('update x1', 3000, () => update(0))); } else {
out.push(await serial('update x1', 400, () => update(0)));
out.push(await serial('batch 4+4', 200, () => batch(4)));
out.push(await serial('batch 12+12', 150, () => batch(12)));
out.push(await mixed(8, 4000)); }
console.log(out.join('\n  '));
raw.destroy();
await stores.close();
await rm(dir, { recursive: true, force: true });
