// @ts-check
// dynalite reads a table's definition from LevelDB on every request.
//
// dynalite 4.0.0's `getTable` does one LevelDB `get` (a round trip through libuv's thread pool, a promise, a
// JSON parse and a `setImmediate`) for the table's definition before every GetItem, PutItem, UpdateItem,
// Query, for each table of a BatchWriteItem and again for each of its items. Under load that was 16 % of the stores' process's busy time
// (the profile in docs/performance.md, "Issue 16: the write path and the process layout"), for a value that
// changes only when a table is created, updated or deleted. Here the definitions are kept in memory once read,
// and every write or delete of a definition drops its copy: while one is in flight (and until it has
// finished) reads go to LevelDB and do not fill the cache, so a read that raced a change can never leave the
// old definition behind. Every read gets its own copy, decoded from the definition's JSON as LevelDB's JSON
// decoding gave it (dynalite's table actions change the object they read before writing it back); parsing
// the kept JSON costs less than half a `structuredClone` of the object (5–6 against 13–15 µs for the audit
// table's definition, a scratch loop). Proven by test/stores/dynalite-table-cache.test.ts.
import { createRequire } from 'node:module';

/**
 * The part of dynalite's table store used here: keys are table names, values their definitions.
 * @typedef {{
 *   get: (name: string, callback: (error: Error | null, table?: unknown) => void) => void;
 *   put: (name: string, table: unknown, callback: (error?: Error | null) => void) => void;
 *   del: (name: string, callback: (error?: Error | null) => void) => void;
 * }} TableDb
 */

/**
 * Keeps `tableDb`'s definitions in memory (see the top of this file). Returns the number of reads LevelDB
 * has answered since, for tests.
 * @param {TableDb} tableDb
 * @returns {{ levelReads: () => number }}
 */
export function cacheTableDefinitions(tableDb) {
  /** Each definition's JSON. */
  /** @type {Map<string, string>} */
  const cache = new Map();
  /** Bumped when a write or delete of a name starts and when it ends. */
  /** @type {Map<string, number>} */
  const generation = new Map();
  let levelReads = 0;
  const bump = (/** @type {string} */ name) => {
    generation.set(name, (generation.get(name) ?? 0) + 1);
    cache.delete(name);
  };
  const levelGet = tableDb.get.bind(tableDb);
  const levelPut = tableDb.put.bind(tableDb);
  const levelDel = tableDb.del.bind(tableDb);

  tableDb.get = (name, callback) => {
    if (cache.has(name)) {
      const copy = JSON.parse(/** @type {string} */ (cache.get(name)));
      // Asynchronous, as LevelDB's answer is: callers rely on it (dynalite takes locks around these reads).
      setImmediate(callback, null, copy);
      return;
    }
    const seen = generation.get(name) ?? 0;
    levelGet(name, (error, table) => {
      levelReads++;
      if (!error && table && typeof table === 'object' && (generation.get(name) ?? 0) === seen) cache.set(name, JSON.stringify(table));
      callback(error, table);
    });
  };
  tableDb.put = (name, table, callback) => {
    bump(name);
    levelPut(name, table, (error) => {
      bump(name);
      callback(error);
    });
  };
  tableDb.del = (name, callback) => {
    bump(name);
    levelDel(name, (error) => {
      bump(name);
      callback(error);
    });
  };
  return { levelReads: () => levelReads };
}

/** dynalite's store module (CommonJS, no typings): the same instance dynalite's server uses. */
const dynaliteDb = /** @type {{ create: (options: object) => { tableDb: TableDb } }} */ (createRequire(import.meta.url)('dynalite/db'));

/** @type {Array<() => number>} */
const storesCached = [];

/** How many table definitions LevelDB has read for the stores {@link cacheDynaliteTableDefinitions} reaches. */
export function tableDefinitionsReadFromLevel() {
  return storesCached.reduce((sum, reads) => sum + reads(), 0);
}

/**
 * Makes every dynalite store created from now on in this process keep its table definitions in memory. Call
 * before `dynalite(...)`; calling it again changes nothing.
 */
export function cacheDynaliteTableDefinitions() {
  if (/** @type {any} */ (dynaliteDb.create).tableCache) return;
  const create = dynaliteDb.create;
  /** @param {object} options */
  const cachingCreate = (options) => {
    const store = create(options);
    storesCached.push(cacheTableDefinitions(store.tableDb).levelReads);
    return store;
  };
  cachingCreate.tableCache = true;
  dynaliteDb.create = cachingCreate;
}
