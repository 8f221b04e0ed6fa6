// Types of ./dynalite-level-writes.mjs (plain JavaScript: it runs in the stores' process under plain node).

export type Operation = { type: 'put'; key: string; value: unknown } | { type: 'del'; key: string };
export type WriteCallback = (error?: Error | null) => void;

/** dynalite's main database as its `db/index.js` wraps it: callback versions of these methods. */
export interface LevelDb {
  status: string;
  getSync(key: string): unknown;
  get(key: string, callback: (error: Error | null, value?: unknown) => void): void;
  put(key: string, value: unknown, callback: WriteCallback): void;
  del(key: string, callback: WriteCallback): void;
  batch(operations: Operation[], callback: WriteCallback): void;
}

/** LevelDB batches written, the operations in them, reads answered in place. */
export interface LevelWriteCounts {
  batches: number;
  operations: number;
  readsInPlace: number;
}

/** Makes `db`'s writes of one event-loop turn one LevelDB batch and its reads in place. */
export function batchLevelWrites(db: LevelDb, options?: { readInPlace?: boolean; track?: (operation: Promise<void>) => unknown }): { counts: () => LevelWriteCounts };

/** The counts of every store {@link batchDynaliteLevelWrites} has reached, summed. */
export function dynaliteLevelWriteCounts(): LevelWriteCounts;

/** Makes every dynalite store created from now on in this process batch its LevelDB writes and read in place. */
export function batchDynaliteLevelWrites(): void;
