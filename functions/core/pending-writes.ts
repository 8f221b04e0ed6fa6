/**
 * The writes a use case starts after its work (a prediction's stats, its served rows, the shadow copy) and that
 * must have settled before the request is answered, handed to whoever answers it.
 *
 * Why: the HTTP middleware appends the request's audit record once the core has returned (the record needs the
 * status code). Awaited in the core, those writes were one round of store calls and the audit record a second
 * one after it; handed over, the middleware sends the audit record at once and awaits it together with them,
 * so the two go out in one round (and a long-lived process can carry the audit record and the served rows in
 * one BatchWriteItem: functions/adapters/batch-put.ts). The answer still leaves only after every one has settled.
 *
 * Each write handed over must settle its own failures as the use case would have (stats: counted and logged;
 * served rows: counted and logged; shadow: counted): the owner only waits. A rejection that escapes anyway is
 * reported by {@link PendingWrites.settled}, for the owner to log.
 */
export class PendingWrites {
  private readonly writes: Promise<unknown>[] = [];
  private closed = false;

  /** Takes `write` for the owner to await; false once the owner has stopped taking (the caller awaits it itself). */
  add(write: Promise<unknown>): boolean {
    if (this.closed) return false;
    this.writes.push(write);
    return true;
  }

  /** How many writes were handed over. */
  get size(): number {
    return this.writes.length;
  }

  /** Stops taking writes and waits for every one handed over; never rejects: the failures that escaped, if any. */
  async settled(): Promise<unknown[]> {
    this.closed = true;
    const outcomes = await Promise.allSettled(this.writes);
    return outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason] : []));
  }
}

/**
 * A use case's after-work writes: handed to `pending` when the caller gave one (and it still takes writes),
 * else awaited here, as without a caller that answers later (unit tests, scripts).
 */
export async function afterWork(pending: PendingWrites | undefined, writes: readonly (Promise<unknown> | undefined)[]): Promise<void> {
  const all = Promise.all(writes);
  if (pending?.add(all)) return;
  await all;
}
