import { Client } from '@smithy/core/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localTableName } from '../../infra/local/seed.js';
import { inBandRow } from '../support/models.js';
import { tableDef } from '../support/reliability.js';
import { apiClient, login, startTestTwin, type Api, type TestTwin } from '../support/twin.js';

/**
 * The write path of one authenticated prediction through the local twin (docs/performance.md, "Issue 16: the
 * write path"): the rate-limit take, then ONE round in which the core's after-work writes (stats, served row)
 * and the audit record go out together, and the answer only after all of them. Every AWS SDK command the
 * twin's functions send in this process is seen (a wrapper around the SDK's `Client.prototype.send`, as
 * bench/cost.ts records them); the stats ADD of the prediction is held until the audit record has been sent:
 * if the audit record waited for the core's writes (three rounds), it would never be sent while the stats ADD
 * is held, and the hold ends only by its safety timeout.
 */

const statsTable = localTableName(tableDef('Stats'));
const auditTable = localTableName(tableDef('AuditLog'));
const predictionsTable = localTableName(tableDef('Predictions'));

interface Sent {
  name: string;
  /** The tables the command writes (a BatchWriteItem may name several). */
  tables: string[];
  input: Record<string, unknown>;
}

function tablesOf(input: Record<string, unknown>): string[] {
  if (typeof input.TableName === 'string') return [input.TableName];
  return Object.keys((input.RequestItems as Record<string, unknown> | undefined) ?? {});
}

let tt: TestTwin;
let api: Api;
let token: string;
const send = Client.prototype.send;
const sent: Sent[] = [];
/** When armed: the next stats ADD waits for `release` (called once the audit record is sent), or for the safety timeout. */
let hold: { release(): void; released: Promise<void>; auditSentWhileHeld: boolean; statsDone: boolean } | undefined;

function armHold(): NonNullable<typeof hold> {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const timer = setTimeout(() => release(), 10_000);
  const armed = { release: () => (clearTimeout(timer), release()), released, auditSentWhileHeld: false, statsDone: false };
  hold = armed;
  return armed;
}

beforeAll(async () => {
  Client.prototype.send = async function (this: Client<never, never, never, never>, command: { input: Record<string, unknown>; constructor: { name: string } }, ...rest: unknown[]) {
    const entry = { name: command.constructor.name, tables: tablesOf(command.input ?? {}), input: command.input ?? {} };
    sent.push(entry);
    const armed = hold;
    if (armed && entry.tables.includes(auditTable)) {
      armed.auditSentWhileHeld = !armed.statsDone;
      armed.release();
    }
    if (armed && entry.name === 'UpdateItemCommand' && entry.tables.includes(statsTable)) {
      await armed.released;
      const out = await (send as (...args: unknown[]) => Promise<unknown>).call(this, command, ...rest);
      armed.statsDone = true;
      return out;
    }
    return (send as (...args: unknown[]) => Promise<unknown>).call(this, command, ...rest);
  } as typeof Client.prototype.send;
  tt = await startTestTwin();
  api = apiClient(tt.url);
  token = await login(api);
  // Warm: the model, the routing and the principal's state are cached before the prediction under test.
  expect((await api('POST', '/api/v1/twin/predict', { token, body: inBandRow })).status).toBe(200);
});

afterAll(async () => {
  Client.prototype.send = send;
  await tt?.stop();
});

describe('write path of a prediction', () => {
  it('the audit record goes out while the core\'s stats ADD is still held, and the answer waits for the ADD', async () => {
    // Prepare
    const armed = armHold();

    // Act
    const res = await api('POST', '/api/v1/twin/predict', { token, body: inBandRow });
    const statsDoneAtAnswer = armed.statsDone;
    hold = undefined;

    // Assess
    expect(res.status).toBe(200);
    expect(armed.auditSentWhileHeld).toBe(true);
    expect(statsDoneAtAnswer).toBe(true);
  });

  it('one process serving many requests: the audit record and the served row of a prediction go in ONE BatchWriteItem', async () => {
    // Prepare
    const from = sent.length;

    // Act
    const res = await api('POST', '/api/v1/twin/predict', { token, body: inBandRow });

    // Assess
    expect(res.status).toBe(200);
    const requestId = res.headers.get('x-request-id');
    const batches = sent.slice(from).filter((s) => s.name === 'BatchWriteCommand');
    const carrying = batches.filter((b) => {
      const items = b.input.RequestItems as Record<string, { PutRequest: { Item: Record<string, unknown> } }[]>;
      return items[auditTable]?.some((r) => r.PutRequest.Item.requestId === requestId) && items[predictionsTable]?.some((r) => r.PutRequest.Item.id === requestId);
    });
    expect(carrying).toHaveLength(1);
    // Neither was also written alone.
    expect(sent.slice(from).filter((s) => s.name === 'PutCommand' && (s.tables.includes(auditTable) || s.tables.includes(predictionsTable)))).toEqual([]);
  });
});
