/**
 * A per-container LRU of prediction results. Keys include the model version, so a new version never
 * serves an old answer. Map iteration order is insertion order: re-inserting on a hit makes it an LRU.
 */
export class LruCache<V> {
  private readonly entries = new Map<string, V>();
  hits = 0;
  misses = 0;

  constructor(private readonly capacity: number) {}

  get(key: string): V | undefined {
    if (this.capacity <= 0) return undefined;
    const value = this.entries.get(key);
    if (value === undefined) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    this.entries.delete(key);
    this.entries.set(key, value);
    return value;
  }

  set(key: string, value: V): void {
    if (this.capacity <= 0) return;
    this.entries.delete(key);
    this.entries.set(key, value);
    if (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value!);
  }

  get size(): number {
    return this.entries.size;
  }

  stats() {
    const total = this.hits + this.misses;
    return { hits: this.hits, misses: this.misses, hit_rate: total === 0 ? 0 : this.hits / total, size: this.entries.size, capacity: this.capacity };
  }
}

/** The cache key: model version plus the validated float32 feature values in manifest order. */
export function cacheKey(ref: string, values: Float32Array): string {
  let key = ref;
  for (let i = 0; i < values.length; i++) key += `|${values[i]}`;
  return key;
}
