import { describe, expect, it } from 'vitest';
import { GroupCommit, type Outcome } from '../../functions/adapters/group-commit.js';

/** The group-commit scheduler alone, with a write function the test controls. */

function controlledWrites() {
  const calls: { key: string; items: number[]; finish(outcomes?: Outcome<string>[] | Error): void }[] = [];
  const write = (key: string, items: number[]) =>
    new Promise<Outcome<string>[]>((resolve, reject) => {
      calls.push({
        key,
        items,
        finish: (outcomes) => (outcomes instanceof Error ? reject(outcomes) : resolve(outcomes ?? items.map((i) => ({ ok: true, value: `stored ${i}` })))),
      });
    });
  return { calls, write };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

describe('GroupCommit', () => {
  it('items submitted in one turn go in one write; items submitted during it go in the next, in order', async () => {
    // Prepare
    const { calls, write } = controlledWrites();
    const group = new GroupCommit(write);

    // Act
    const first = [1, 2, 3].map((i) => group.submit('k', i));
    await turn();
    const second = [4, 5].map((i) => group.submit('k', i));
    await turn();
    calls[0]!.finish();
    await Promise.all(first);
    await turn();
    calls[1]!.finish();

    // Assess
    expect(await Promise.all([...first, ...second])).toEqual(['stored 1', 'stored 2', 'stored 3', 'stored 4', 'stored 5']);
    expect(calls.map((c) => c.items)).toEqual([[1, 2, 3], [4, 5]]);
  });

  it('nobody is answered before the write carrying their item has finished', async () => {
    // Prepare
    const { calls, write } = controlledWrites();
    const group = new GroupCommit(write);
    let settled = false;

    // Act
    const pending = group.submit('k', 1).then(() => (settled = true));
    await turn();
    await turn();
    const before = settled;
    calls[0]!.finish();
    await pending;

    // Assess
    expect(before).toBe(false);
    expect(settled).toBe(true);
  });

  it('keys are independent: each has its own write in flight', async () => {
    // Prepare
    const { calls, write } = controlledWrites();
    const group = new GroupCommit(write);

    // Act
    const a = group.submit('a', 1);
    const b = group.submit('b', 2);
    await turn();

    // Assess
    expect(calls.map((c) => [c.key, c.items])).toEqual([
      ['a', [1]],
      ['b', [2]],
    ]);
    calls.forEach((c) => c.finish());
    await Promise.all([a, b]);
  });

  it('a thrown write fails its whole group, a failed outcome fails only its item, and the key recovers', async () => {
    // Prepare
    const { calls, write } = controlledWrites();
    const group = new GroupCommit(write);

    // Act
    const thrown = [1, 2].map((i) => group.submit('k', i));
    await turn();
    calls[0]!.finish(new Error('call failed'));
    const thrownResults = await Promise.allSettled(thrown);
    const mixed = [3, 4].map((i) => group.submit('k', i));
    await turn();
    calls[1]!.finish([{ ok: false, error: new Error('item 3 refused') }, { ok: true, value: 'stored 4' }]);
    const mixedResults = await Promise.allSettled(mixed);

    // Assess
    expect(thrownResults.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(mixedResults).toEqual([
      { status: 'rejected', reason: new Error('item 3 refused') },
      { status: 'fulfilled', value: 'stored 4' },
    ]);
  });

  it('a write that returns too few outcomes rejects the items it left out', async () => {
    // Prepare
    const { calls, write } = controlledWrites();
    const group = new GroupCommit(write);

    // Act
    const items = [1, 2].map((i) => group.submit('k', i));
    await turn();
    calls[0]!.finish([{ ok: true, value: 'stored 1' }]);
    const results = await Promise.allSettled(items);

    // Assess
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected']);
  });
});
