import type { AlertCapStore, AlertClaim, AlertEvent, AlertPublisher, AlertStateStore, CapWindowCounts } from '../../functions/core/ports.js';

/**
 * In-memory alert ports (functions/core/ports.ts) for unit tests of the alert core: the same contracts as
 * functions/adapters/dynamodb-alert-state-store.ts and dynamodb-alert-cap-store.ts (test/stores/dynamodb-adapters.test.ts
 * holds those to them), no network.
 */

type State = 'firing' | 'resolved' | 'suppressed';

export class InMemoryAlertStateStore implements AlertStateStore {
  readonly items = new Map<string, { state: State; lastSent: string; resolvedAt?: string }>();
  readonly events: AlertEvent[] = [];

  async claim(key: string, now: string, cooldownSeconds: number): Promise<AlertClaim | undefined> {
    const current = this.items.get(key);
    if (current && !(current.lastSent < new Date(Date.parse(now) - cooldownSeconds * 1000).toISOString())) return undefined;
    this.items.set(key, { state: 'firing', lastSent: now });
    return current && current.state !== 'suppressed' ? { at: now, previous: { state: current.state, lastSent: current.lastSent } } : { at: now };
  }
  async release(key: string, claim: AlertClaim): Promise<void> {
    if (this.items.get(key)?.lastSent !== claim.at) return;
    if (claim.previous) this.items.set(key, { ...claim.previous });
    else this.items.delete(key);
  }
  async suppress(key: string, claim: AlertClaim): Promise<void> {
    const item = this.items.get(key);
    if (item?.lastSent === claim.at) item.state = claim.previous?.state === 'firing' ? 'firing' : 'suppressed';
  }
  async resolve(key: string, now: string): Promise<boolean> {
    const item = this.items.get(key);
    if (item?.state !== 'firing') return false;
    item.state = 'resolved';
    item.resolvedAt = now;
    return true;
  }
  async unresolve(key: string, resolvedAt: string): Promise<void> {
    const item = this.items.get(key);
    if (item?.state === 'resolved' && item.resolvedAt === resolvedAt) item.state = 'firing';
  }
  async isFiring(key: string): Promise<boolean> {
    return this.items.get(key)?.state === 'firing';
  }
  async recordEvent(event: AlertEvent): Promise<'stored' | 'duplicate'> {
    if (this.events.some((e) => e.id === event.id)) return 'duplicate';
    this.events.push(structuredClone(event));
    return 'stored';
  }
  async recentEvents(model: string | undefined, limit: number, plant?: string): Promise<AlertEvent[]> {
    return this.events.filter((e) => e.model === model && (plant === undefined || e.plant === plant)).reverse().slice(0, limit);
  }
}

export class InMemoryAlertCapStore implements AlertCapStore {
  readonly counts = new Map<string, { sent: number; held: number; models: Set<string>; ttl: number }>();
  readonly owes = new Map<string, { scope: string; window: string; ttl: number }>();
  /** Makes the next `take` throw (a store that is down). */
  failTake = false;

  private count(scope: string, window: string, expires: number) {
    const key = `${scope}|${window}`;
    const item = this.counts.get(key) ?? { sent: 0, held: 0, models: new Set<string>(), ttl: expires };
    this.counts.set(key, item);
    return item;
  }
  async take(scope: string, window: string, cap: number, expires: number): Promise<boolean> {
    if (this.failTake) throw new Error('store down');
    const item = this.count(scope, window, expires);
    if (item.sent >= cap) return false;
    item.sent++;
    return true;
  }
  async hold(scope: string, window: string, model: string, expires: number): Promise<number> {
    const item = this.count(scope, window, expires);
    item.held++;
    item.models.add(model);
    return item.held;
  }
  async owe(scope: string, window: string, expires: number): Promise<void> {
    this.owes.set(`${window}#${scope}`, { scope, window, ttl: expires });
  }
  async owed(before: string, limit: number): Promise<{ scope: string; window: string }[]> {
    return [...this.owes.entries()]
      .filter(([sk]) => sk < before)
      .sort(([a], [b]) => a.localeCompare(b))
      .slice(0, limit)
      .map(([, o]) => ({ scope: o.scope, window: o.window }));
  }
  async settle(scope: string, window: string): Promise<{ sent: number; held: number; models: string[] } | undefined> {
    if (!this.owes.delete(`${window}#${scope}`)) return undefined;
    const item = this.counts.get(`${scope}|${window}`);
    return { sent: item?.sent ?? 0, held: item?.held ?? 0, models: [...(item?.models ?? [])].sort() };
  }
  async unsettle(scope: string, window: string, expires: number): Promise<void> {
    await this.owe(scope, window, expires);
  }
  readonly heldNotes = new Map<string, { scope: string; window: string; ttl: number }>();
  async noteHeld(scope: string, window: string, expires: number): Promise<void> {
    this.heldNotes.set(`${window}#${scope}`, { scope, window, ttl: expires });
  }
  async windows(scope: string, from: string): Promise<CapWindowCounts[]> {
    return [...this.counts.entries()]
      .filter(([key]) => key.startsWith(`${scope}|`) && key.slice(scope.length + 1) >= from)
      .map(([key, c]) => ({ window: key.slice(scope.length + 1), sent: c.sent, held: c.held, models: [...c.models].sort(), ttl: c.ttl }))
      .sort((a, b) => b.window.localeCompare(a.window));
  }
  async heldScopes(from: string, limit: number): Promise<{ scope: string; window: string }[]> {
    return [...this.heldNotes.entries()]
      .filter(([sk]) => sk >= from)
      .sort(([a], [b]) => b.localeCompare(a))
      .slice(0, limit)
      .map(([, n]) => ({ scope: n.scope, window: n.window }));
  }
}

/** An SNS topic in memory: what was published, parsed; `failing` makes every publish throw. */
export class RecordingPublisher implements AlertPublisher {
  readonly messages: { subject: string; body: Record<string, unknown>; attributes: Record<string, string> }[] = [];
  failing = false;
  async publish(message: { subject: string; body: string; attributes: Record<string, string> }): Promise<void> {
    if (this.failing) throw new Error('SNS down');
    this.messages.push({ subject: message.subject, body: JSON.parse(message.body) as Record<string, unknown>, attributes: message.attributes });
  }
  kinds(): string[] {
    return this.messages.map((m) => String(m.body.kind ?? m.body.type));
  }
}
