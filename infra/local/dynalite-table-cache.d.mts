// Types of ./dynalite-table-cache.mjs (plain JavaScript: it runs in the stores' process under plain node).

/** The part of dynalite's table store the cache wraps: keys are table names, values their definitions. */
export interface TableDb {
  get(name: string, callback: (error: Error | null, table?: unknown) => void): void;
  put(name: string, table: unknown, callback: (error?: Error | null) => void): void;
  del(name: string, callback: (error?: Error | null) => void): void;
}

/** Keeps `tableDb`'s definitions in memory; `levelReads` counts the reads the wrapped store answered. */
export function cacheTableDefinitions(tableDb: TableDb): { levelReads: () => number };

/** How many table definitions LevelDB has read for the stores {@link cacheDynaliteTableDefinitions} reaches. */
export function tableDefinitionsReadFromLevel(): number;

/** Makes every dynalite store created from now on in this process keep its table definitions in memory. */
export function cacheDynaliteTableDefinitions(): void;
