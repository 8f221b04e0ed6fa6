import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { keptGroups, keptMessages, keptPerGroup, SnsSink, tailBytes, type SinkMessage } from '../../infra/local/sns-sink.js';

/**
 * The local SNS sink's memory of recent messages (what the alert stream replays): kept per group, so one
 * group's storm never pushes another's out; read back from the end of alerts.jsonl on a start, a torn line
 * skipped; every part bounded.
 */

const dirs: string[] = [];
const sinks: SnsSink[] = [];
afterEach(async () => {
  for (const s of sinks.splice(0)) await s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const groupOf = (m: SinkMessage) => {
  const plant = (m.message as { plant?: unknown } | null)?.plant;
  return typeof plant === 'string' ? plant : undefined;
};

function tempFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'sns-sink-'));
  dirs.push(dir);
  return join(dir, 'alerts.jsonl');
}

async function started(file: string): Promise<SnsSink> {
  const sink = new SnsSink(file, undefined, groupOf);
  sinks.push(sink);
  await sink.listen();
  return sink;
}

async function publish(sink: SnsSink, message: Record<string, unknown>): Promise<void> {
  const body = new URLSearchParams({ Action: 'Publish', TopicArn: 'arn:aws:sns:us-east-1:000000000000:t', Message: JSON.stringify(message) });
  const res = await fetch(sink.endpoint!, { method: 'POST', body });
  expect(res.status).toBe(200);
}

function line(plant: string, n: number): string {
  return `${JSON.stringify({ messageId: `${plant}-${n}`, received: '2026-01-01T00:00:00.000Z', topicArn: 't', message: { plant, n }, attributes: {} })}\n`;
}

const ns = (messages: SinkMessage[]) => messages.map((m) => `${(m.message as { plant: string }).plant}-${(m.message as { n: number }).n}`);

describe('replay groups', () => {
  it("one group's storm leaves another group's last messages in place", async () => {
    const sink = await started(tempFile());
    await publish(sink, { plant: 'north', n: 0 });
    await publish(sink, { plant: 'north', n: 1 });
    for (let n = 0; n < keptPerGroup + 20; n++) await publish(sink, { plant: 'south', n });

    expect(ns(await sink.recentIn(['north'], 100))).toEqual(['north-0', 'north-1']);
    const south = ns(await sink.recentIn(['south'], 100));
    expect(south).toHaveLength(keptPerGroup);
    expect(south[0]).toBe('south-20');
    expect(south.at(-1)).toBe(`south-${keptPerGroup + 19}`);
    // Every group, merged in arrival order.
    expect(ns(await sink.recentIn('all', 3))).toEqual([`south-${keptPerGroup + 17}`, `south-${keptPerGroup + 18}`, `south-${keptPerGroup + 19}`]);
    expect(ns(await sink.recentIn(['north', 'south'], 2))).toEqual([`south-${keptPerGroup + 18}`, `south-${keptPerGroup + 19}`]);
    // A message outside every group is kept for `recent` only.
    await publish(sink, { note: 'no plant' });
    expect((await sink.recent(1))[0]!.message).toEqual({ note: 'no plant' });
    expect(ns(await sink.recentIn('all', 1))).toEqual([`south-${keptPerGroup + 19}`]);
  });

  it('asks for nothing, gets nothing: a count of 0, an unknown group', async () => {
    const sink = await started(tempFile());
    await publish(sink, { plant: 'north', n: 0 });
    expect(await sink.recentIn(['north'], 0)).toEqual([]);
    expect(await sink.recent(0)).toEqual([]);
    expect(await sink.recentIn(['nowhere'], 10)).toEqual([]);
  });

  it('keeps at most keptMessages for recent and keptGroups groups, dropping the group quiet for longest', async () => {
    const file = tempFile();
    let text = line('first', 0);
    for (let g = 0; g < keptGroups - 1; g++) text += line(`plant${g}`, 0);
    text += line('first', 1); // `first` is fresh again: plant0 is now the stalest of keptGroups groups
    writeFileSync(file, text);
    const sink = await started(file);
    await publish(sink, { plant: 'newcomer', n: 0 });

    expect(ns(await sink.recentIn(['plant0'], 10))).toEqual([]);
    expect(ns(await sink.recentIn(['plant1'], 10))).toEqual(['plant1-0']);
    expect(ns(await sink.recentIn(['first'], 10))).toEqual(['first-0', 'first-1']);
    expect(ns(await sink.recentIn(['newcomer'], 10))).toEqual(['newcomer-0']);
    expect(await sink.recent(100_000)).toHaveLength(keptMessages);
  });
});

describe('a start reads back the end of alerts.jsonl', () => {
  it('replays what an earlier process received, skipping a torn or foreign line', async () => {
    const file = tempFile();
    const before = await started(file);
    await publish(before, { plant: 'north', n: 0 });
    await publish(before, { plant: 'south', n: 0 });
    await before.close();
    appendFileSync(file, 'not json\n["an array"]\n{"messageId": "torn-by-a-cra');

    const after = await started(file);
    expect(ns(await after.recentIn(['north'], 10))).toEqual(['north-0']);
    expect(ns(await after.recentIn('all', 10))).toEqual(['north-0', 'south-0']);
  });

  it('reads only the last tailBytes of a larger file, from its first whole line', async () => {
    const file = tempFile();
    const filler = line('old', 0);
    writeFileSync(file, filler.repeat(Math.ceil((tailBytes * 1.5) / filler.length)));
    appendFileSync(file, line('north', 7));
    const sink = await started(file);
    expect(ns(await sink.recentIn(['north'], 10))).toEqual(['north-7']);
    expect(await sink.recentIn(['old'], 1_000)).toHaveLength(keptPerGroup);
  });

  it('starts empty without a file', async () => {
    const sink = await started(tempFile());
    expect(await sink.recent(10)).toEqual([]);
  });
});
