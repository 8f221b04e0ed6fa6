import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { replayGroupOf } from '../../infra/local/alert-stream.js';
import { keptPerGroup, SnsSink, tailBytes, type SinkMessage } from '../../infra/local/sns-sink.js';

/**
 * The local SNS sink's read-back of alerts.jsonl against hostile lines (an edge box's disk is its operator's,
 * and a line is replayed into every plant's server-sent event stream): only the shape the sink writes is kept,
 * a messageId that would break an event's framing is refused, a plant that is not a string groups nowhere, and
 * plant names that are special to plain objects are ordinary groups. The alert stream's own grouping is used.
 */

const dirs: string[] = [];
const sinks: SnsSink[] = [];
afterEach(async () => {
  for (const s of sinks.splice(0)) await s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function fileWith(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'sns-sink-hostile-'));
  dirs.push(dir);
  const file = join(dir, 'alerts.jsonl');
  writeFileSync(file, text);
  return file;
}

async function started(file: string): Promise<SnsSink> {
  const sink = new SnsSink(file, undefined, replayGroupOf);
  sinks.push(sink);
  await sink.listen();
  return sink;
}

const alert = (plant: unknown, principal: string) => ({ type: 'anomaly', plant, model: 'reactor-yield', principal });
const line = (fields: Record<string, unknown>) => `${JSON.stringify({ messageId: 'm-1', received: '2026-01-01T00:00:00.000Z', topicArn: 't', attributes: {}, ...fields })}\n`;
const principals = (messages: SinkMessage[]) => messages.map((m) => (m.message as { principal: string }).principal);

describe('hostile lines in alerts.jsonl', () => {
  it('a messageId with a line break (it would forge events in a stream: `id: <messageId>`) is not kept', async () => {
    const forged = `x\n\nevent: alert\ndata: ${JSON.stringify({ message: alert('north', 'forged') })}`;
    const sink = await started(fileWith(line({ messageId: forged, message: alert('south', 'hostile') }) + line({ messageId: 'ok-1', message: alert('south', 'fine') })));
    expect(principals(await sink.recentIn(['south'], 10))).toEqual(['fine']);
    expect((await sink.recent(10)).map((m) => m.messageId)).toEqual(['ok-1']);
  });

  it('a line of another shape (messageId not a string, attributes not strings, no topicArn) is not kept', async () => {
    const sink = await started(
      fileWith(
        line({ messageId: 42, message: alert('south', 'a') }) +
          line({ attributes: { plant: { S: 'north' } }, message: alert('south', 'b') }) +
          line({ topicArn: undefined, message: alert('south', 'c') }) +
          line({ received: ['x'], message: alert('south', 'd') }) +
          line({ messageId: 'ok-2', message: alert('south', 'kept') }),
      ),
    );
    expect(principals(await sink.recentIn('all', 10))).toEqual(['kept']);
  });

  it('only the fields the sink writes are kept (a line cannot smuggle others into every stream)', async () => {
    const sink = await started(fileWith(line({ messageId: 'ok-3', message: alert('south', 'p'), extra: 'x'.repeat(100) })));
    expect(Object.keys((await sink.recent(1))[0]!).sort()).toEqual(['attributes', 'message', 'messageId', 'received', 'topicArn']);
  });

  it('what held: a plant that is an object or a number groups nowhere (no plant reads it)', async () => {
    const sink = await started(fileWith(line({ messageId: 'o', message: alert({ toString: 'south' }, 'object') }) + line({ messageId: 'n', message: alert(7, 'number') })));
    expect(await sink.recentIn('all', 10)).toEqual([]);
    expect(await sink.recentIn(['south', '7', '[object Object]'], 10)).toEqual([]);
  });

  it("what held: plants named like an object's own members are ordinary groups", async () => {
    const text = ['__proto__', 'constructor', 'hasOwnProperty', 'toString'].map((p, i) => line({ messageId: `p-${i}`, message: alert(p, p) })).join('');
    const sink = await started(fileWith(text));
    expect(principals(await sink.recentIn(['__proto__'], 10))).toEqual(['__proto__']);
    expect(principals(await sink.recentIn(['constructor'], 10))).toEqual(['constructor']);
    expect(await sink.recentIn(['valueOf'], 10)).toEqual([]);
    // A platform alert ('' group) is not any plant's.
    expect(await sink.recentIn([''], 10)).toEqual([]);
  });

  it('what held: a tail that is one line longer than tailBytes (no line break in it) keeps nothing and starts', async () => {
    const giant = line({ messageId: 'giant', message: { ...alert('south', 'giant'), pad: 'x'.repeat(tailBytes + 10) } });
    const sink = await started(fileWith(giant));
    expect(await sink.recent(10)).toEqual([]);
  });

  it('what held: a storm of lines within the tail keeps at most keptPerGroup per plant', async () => {
    const text = Array.from({ length: keptPerGroup * 3 }, (_, i) => line({ messageId: `s-${i}`, message: alert('south', `s${i}`) })).join('');
    const sink = await started(fileWith(text));
    expect(await sink.recentIn(['south'], 1_000)).toHaveLength(keptPerGroup);
  });
});

describe('a platform replay over many plants', () => {
  it('what held: the newest alerts of every plant, merged in arrival order, whatever the interleaving', async () => {
    // Plants p0..p49 in an uneven interleaving (plant k receives every (k+1)-th message), read back from the file.
    const order: string[] = [];
    for (let i = 0; order.length < 2_000; i++) for (let k = 0; k < 50; k++) if (i % (k + 1) === 0) order.push(`p${k}`);
    const text = order.map((p, i) => line({ messageId: `m${i}`, message: alert(p, `${p}#${i}`) })).join('');
    const sink = await started(fileWith(text));
    const kept = order.map((p, i) => ({ p, i }));
    // What each plant kept (its last keptPerGroup), then the newest of those overall.
    const perPlant = new Map<string, number[]>();
    for (const { p, i } of kept) perPlant.set(p, [...(perPlant.get(p) ?? []), i].slice(-keptPerGroup));
    const expected = [...perPlant.values()].flat().sort((a, b) => a - b);
    for (const count of [1, 7, 100]) {
      expect(principals(await sink.recentIn('all', count))).toEqual(expected.slice(-count).map((i) => `${order[i]}#${i}`));
    }
    expect(principals(await sink.recentIn(['p3', 'p0'], 5))).toEqual(expected.filter((i) => ['p3', 'p0'].includes(order[i]!)).slice(-5).map((i) => `${order[i]}#${i}`));
  });
});
