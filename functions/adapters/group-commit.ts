/** How one submitted item fared in the write that carried it. */
export type Outcome<R> = { ok: true; value: R } | { ok: false; error: unknown };

interface Pending<T, R> {
  item: T;
  resolve(value: R): void;
  reject(error: unknown): void;
}

/**
 * Group commit for a process serving many requests at once: the first item submitted under an idle key is
 * written at the end of the current event-loop turn (`setImmediate`), with whatever else that turn submitted
 * (a server often finishes several requests per turn); items submitted while that write is in flight wait,
 * and then go together in the next write, and so on until the key is idle again. Each submitter's promise settles only with the outcome
 * of the write that carried its item, so nobody is answered before their item is stored, and a failed write
 * fails exactly the items it carried.
 *
 * A Lambda container serves one request at a time: every item finds its key idle and is written alone, as
 * without group commit. Under concurrency the number of writes follows the round trips, not the requests.
 */
export class GroupCommit<T, R> {
  private readonly queues = new Map<string, Pending<T, R>[]>();

  /**
   * @param write writes a group (one or more items, in submission order) and returns one outcome per item, in
   *   the same order; a throw fails the whole group.
   */
  constructor(private readonly write: (key: string, items: T[]) => Promise<Outcome<R>[]>) {}

  submit(key: string, item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      const queued = this.queues.get(key);
      if (queued) {
        queued.push({ item, resolve, reject });
        return;
      }
      const queue: Pending<T, R>[] = [{ item, resolve, reject }];
      this.queues.set(key, queue);
      setImmediate(() => void this.drain(key, queue));
    });
  }

  private async drain(key: string, queue: Pending<T, R>[]): Promise<void> {
    try {
      while (queue.length > 0) {
        const group = queue.splice(0);
        try {
          const outcomes = await this.write(
            key,
            group.map((p) => p.item),
          );
          group.forEach((pending, i) => {
            const outcome = outcomes[i];
            if (outcome?.ok) pending.resolve(outcome.value);
            else pending.reject(outcome ? outcome.error : new Error('group commit: no outcome for an item'));
          });
        } catch (error) {
          for (const pending of group) pending.reject(error);
        }
      }
    } finally {
      this.queues.delete(key);
    }
  }
}
