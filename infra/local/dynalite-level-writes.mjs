// @ts-check
// dynalite's LevelDB steps, fewer and cheaper: reads answered in place, the writes of one turn in one batch.
//
// dynalite 4.0.0 writes an item in three asynchronous LevelDB steps, one after the other: a `get` of the old
// item, its index entries (deletes, then puts, each a write of its own), then the item. Each step is a round
// trip through libuv's thread pool, a promise and a `setImmediate`; a BatchWriteItem of 24 items with an index
// each made ~72 of them. The scratch profile of the stores' process (docs/performance.md, "What bounds the
// store calls") found those steps, more than LevelDB's own work, to be most of a call's time. Here:
//
// - a `get` on the open database reads in place (`getSync`: LevelDB's memtable, block cache or the page
//   cache) and answers on a `setImmediate`, as the thread pool's answer did; before the database is open (or
//   when in-place reads are off) it goes the old way;
// - every `put`, `del` and `batch` issued in one event-loop turn goes to LevelDB as one atomic batch, in the
//   order issued (the first schedules the flush with `setImmediate`); each caller is answered when that batch
//   is written, with the batch's error if it failed;
// - dynalite's `updateIndexes` issues an item's index deletes and puts and calls back at once, so they join
//   the item's own put or delete, which dynalite's actions issue from that callback in the same turn: index
//   entries and item are written together or not at all (before, the index entries went first and a failure
//   between the two writes left an index entry without its item).
//
// What stays as it was: every item write happens under dynalite's per-key lock, released only once the
// write is in LevelDB, so a conditional write always reads the last committed item and a read issued after a
// write's answer sees it; writes reach LevelDB's log as before (`sync: false`, as dynalite wrote them);
// nothing is held anywhere but LevelDB once answered. Proven by test/stores/dynalite-level-writes.test.ts.
import { createRequire } from 'node:module';

/**
 * @typedef {{ type: 'put'; key: string; value: unknown } | { type: 'del'; key: string }} Operation
 * @typedef {(error?: Error | null) => void} WriteCallback
 * @typedef {{
 *   status: string;
 *   getSync: (key: string) => unknown;
 *   get: (key: string, callback: (error: Error | null, value?: unknown) => void) => void;
 *   put: (key: string, value: unknown, callback: WriteCallback) => void;
 *   del: (key: string, callback: WriteCallback) => void;
 *   batch: (operations: Operation[], callback: WriteCallback) => void;
 * }} LevelDb  dynalite's main database as its `db/index.js` wraps it: callback versions of these methods.
 * @typedef {{ batches: number; operations: number; readsInPlace: number }} LevelWriteCounts
 */

/**
 * Makes `db`'s writes of one turn one LevelDB batch and, unless `readInPlace` is false, its reads in place
 * (see the top of this file). Returns the counts tests read.
 * @param {LevelDb} db
 * @param {{ readInPlace?: boolean; track?: (operation: Promise<void>) => unknown }} [options]  `track`: dynalite's
 *   lifecycle manager's, so that closing the database waits for a batch not yet written, as for any write.
 * @returns {{ counts: () => LevelWriteCounts }}
 */
export function batchLevelWrites(db, { readInPlace = true, track } = {}) {
  const counts = { batches: 0, operations: 0, readsInPlace: 0 };
  const levelGet = db.get.bind(db);
  const levelBatch = db.batch.bind(db);
  /** @type {Operation[]} */
  let operations = [];
  /** @type {WriteCallback[]} */
  let callbacks = [];
  /** @type {() => void} */
  let written = () => undefined;
  const flush = () => {
    const batch = operations;
    const answer = callbacks;
    const done = written;
    operations = [];
    callbacks = [];
    counts.batches++;
    counts.operations += batch.length;
    levelBatch(batch, (error) => {
      done();
      for (const callback of answer) callback(error ?? null);
    });
  };
  /** @param {Operation[]} ops @param {WriteCallback} callback */
  const enqueue = (ops, callback) => {
    if (operations.length === 0) {
      setImmediate(flush);
      if (track) track(new Promise((resolve) => (written = () => resolve(undefined))));
    }
    for (const op of ops) operations.push(op);
    callbacks.push(callback);
  };

  // A call without a callback is abstract-level replaying a call it deferred while the database was opening
  // (`this.put(key, value, options)`, promise form): it goes to dynalite's own method, as before.
  const levelPut = db.put.bind(db);
  const levelDel = db.del.bind(db);
  db.put = (key, value, callback) => (typeof callback === 'function' ? enqueue([{ type: 'put', key, value }], callback) : levelPut(key, value, callback));
  db.del = (key, callback) => (typeof callback === 'function' ? enqueue([{ type: 'del', key }], callback) : levelDel(key, callback));
  db.batch = (ops, callback) => {
    if (typeof callback !== 'function') return levelBatch(ops, callback);
    if (ops.length === 0) setImmediate(callback, null);
    else enqueue(ops, callback);
  };
  if (readInPlace) {
    db.get = (key, callback) => {
      if (typeof callback !== 'function' || db.status !== 'open') return levelGet(key, callback);
      /** @type {unknown} */
      let value;
      try {
        value = db.getSync(key);
      } catch (error) {
        setImmediate(callback, /** @type {Error} */ (error));
        return;
      }
      counts.readsInPlace++;
      setImmediate(callback, null, value);
    };
  }
  return { counts: () => ({ ...counts }) };
}

/**
 * dynalite's store module (CommonJS, no typings): the same instance its server and actions use.
 * @type {{ create: ((options: object) => any) & { tableCache?: boolean }; updateIndexes: (...args: any[]) => void; getIndexActions: (indexes: any[], existingItem: any, item: any, table: any) => { puts: Array<{ index: string; key: string; item: unknown }>; deletes: Array<{ index: string; key: string }> } }}
 */
const dynaliteDb = createRequire(import.meta.url)('dynalite/db');

/** @type {WeakSet<object>} */
const batchedStores = new WeakSet();
/** @type {Array<() => LevelWriteCounts>} */
const storeCounts = [];
let installed = false;

/** The counts of every store {@link batchDynaliteLevelWrites} has reached, summed. */
export function dynaliteLevelWriteCounts() {
  const sum = { batches: 0, operations: 0, readsInPlace: 0 };
  for (const counts of storeCounts) {
    const c = counts();
    sum.batches += c.batches;
    sum.operations += c.operations;
    sum.readsInPlace += c.readsInPlace;
  }
  return sum;
}

/**
 * Makes every dynalite store created from now on in this process batch its LevelDB writes and read in place
 * (see the top of this file). Call before `dynalite(...)`; calling it again changes nothing. Composes with
 * `cacheDynaliteTableDefinitions` (dynalite-table-cache.mjs) in either order.
 */
export function batchDynaliteLevelWrites() {
  if (installed) return;
  installed = true;
  const create = dynaliteDb.create;
  /** @param {object} options */
  const batchingCreate = (options) => {
    const store = create(options);
    storeCounts.push(batchLevelWrites(store.db, { track: (operation) => store.lifecycleManager.trackOperation(operation) }).counts);
    batchedStores.add(store);
    return store;
  };
  // dynalite-table-cache.mjs marks the create it installed: keep its mark on this wrapper.
  dynaliteDb.create = Object.assign(batchingCreate, create);

  const updateIndexes = dynaliteDb.updateIndexes;
  /** dynalite's own, but without waiting for the index writes: see the top of this file. */
  dynaliteDb.updateIndexes = (/** @type {any} */ store, /** @type {any} */ table, /** @type {any} */ existingItem, /** @type {any} */ item, /** @type {(error?: Error | null) => void} */ cb) => {
    if (!batchedStores.has(store) || (!existingItem && !item)) return updateIndexes(store, table, existingItem, item, cb);
    // An index write's own failure fails its batch, and so the item's write in it, which answers the caller.
    const ignore = () => undefined;
    const actions = /** @type {const} */ (['Local', 'Global']).map((type) => ({ type, ...dynaliteDb.getIndexActions(table[`${type}SecondaryIndexes`] || [], existingItem, item, table) }));
    for (const { type, deletes } of actions) for (const action of deletes) store.getIndexDb(type, table.TableName, action.index).del(action.key, ignore);
    for (const { type, puts } of actions) for (const action of puts) store.getIndexDb(type, table.TableName, action.index).put(action.key, action.item, ignore);
    cb();
  };
}
