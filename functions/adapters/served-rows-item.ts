import type { StoredPrediction } from '../core/quality/ports.js';
import { itemBytes, valueBytes } from './item-size.js';

/**
 * The stored layout of one served request in the Predictions table (functions/adapters/dynamodb-prediction-log.ts),
 * docs/models.md "Ground truth". Written in the binary layout; read in both, so an item stored by an earlier
 * version (a deployed table, a local data dir) reads exactly as before.
 *
 * Binary layout (since 2026-12): the numbers of the rows are packed as IEEE 754 doubles, little-endian, in
 * binary attributes (DynamoDB `B`; the document client writes and reads them as Uint8Array). Every double round
 * trips exactly (-0 too), and DynamoDB and its emulator store a few KB of bytes instead of validating and
 * parsing ~1,000 decimal numbers per batch of 100 (docs/performance.md, "Served rows, one item per request").
 * - `n`: the number of rows (what every binary attribute's length is checked against on read);
 * - `rb`: per row, prediction, interval low, interval high (a null interval: both NaN; the core never keeps a
 *   NaN prediction or bound, so NaN means nothing else);
 * - `ri`: the rows' indices, Uint32 each; absent when they are 0 … n-1 in order (every row of the request served);
 * - `xs`: the inputs, `f.length` per row in `f`'s order, of every row not in `xm`, in row order; absent when
 *   there are none. Apart from `rb`, so a feedback join reads the served values without the inputs;
 * - `xm`: rows whose features differ from `f` (by position in the request): their feature names and values.
 *
 * Layout of before: `rows` (a list of maps: r = row index, p = prediction, i = interval or null,
 * m = own inputs, x = inputs as first stored) and `xs` (a list of number lists).
 */
export interface RequestItem {
  id: string;
  model: string;
  version: string;
  plant?: string;
  principal: string;
  time: string;
  level: number | null;
  ttl: number;
  /** `<plant, or - for the platform's own principals>#<time>#<request id>`: the sort key of the `byModelPlantTime` index. */
  psk: string;
  /** Feature names, in the order of every row's inputs. */
  f: string[];
  n?: number;
  rb?: Uint8Array;
  ri?: Uint8Array;
  xs?: Uint8Array | number[][];
  xm?: Record<string, { f: string[]; x?: Uint8Array }>;
  rows?: { r: number; x?: number[]; m?: Record<string, number>; p: number; i: [number, number] | null }[];
  /** Measured values by row index, each set once by feedback: a = actual, t = when. */
  obs: Record<string, { a: number; t: string }>;
}

/** The sort-key prefix of the platform's own principals' rows: '-' starts no plant name (plantSchema). */
export const platformKey = '-';

/** The sort-key prefix of a plant's rows (null: the platform's own). */
export function plantKey(plant: string | null | undefined): string {
  return plant ?? platformKey;
}

/** What a feedback join reads (`xs` and `xm`, the inputs, left out); both layouts. */
export const servedValueAttributes = ['id', 'model', 'version', 'plant', 'principal', 'time', 'level', 'ttl', 'f', 'n', 'rb', 'ri', 'rows', 'obs'];

/** DynamoDB's item limit (names and values). */
const maxItemBytes = 400 * 1024;

/**
 * The most one row's measured value can add to the item later (`obs`: its index, a number, an ISO time), held
 * free at write so that feedback never finds the item too large to update.
 */
const observationBytes = valueBytes({ '4294967295': { a: -1.2345678901234567e-100, t: '2026-12-04T00:00:00.000Z' } }) - 3;

/** A stored item that claims what its bytes do not hold: skipped by readers, never turned into rows. */
export class CorruptServedRowsError extends Error {
  constructor(id: unknown, reason: string) {
    super(`served rows of request ${String(id)}: ${reason}`);
    this.name = 'CorruptServedRowsError';
  }
}

/** One request's rows as one item; they share request id, model, version, plant, principal, time, level and TTL. */
export function toItem(rows: readonly StoredPrediction[]): RequestItem {
  const first = rows[0]!;
  for (const row of rows) {
    if (row.model !== first.model || row.version !== first.version || row.plant !== first.plant || row.principal !== first.principal || row.time !== first.time || row.level !== first.level || row.ttl !== first.ttl) {
      throw new Error(`served rows of request ${first.requestId} disagree on what a request's rows share`);
    }
    // What a reader would refuse is never written (the core keeps finite numbers only: QualityService.capture).
    const finite = Number.isFinite(row.prediction) && (row.interval === null || row.interval.every(Number.isFinite)) && Object.values(row.inputs).every(Number.isFinite);
    if (!finite || !Number.isInteger(row.row) || row.row < 0 || row.row > 0xffffffff) throw new Error(`served rows of request ${first.requestId}: row ${row.row} holds a number that is not kept`);
  }
  const f = Object.keys(first.inputs);
  const sameFeatures = (inputs: Record<string, number>) => Object.keys(inputs).length === f.length && f.every((name) => inputs[name] !== undefined);
  const own = rows.flatMap((r, k) => (sameFeatures(r.inputs) ? [] : [k]));
  const shared = rows.length - own.length;
  const rb = new DataView(new ArrayBuffer(rows.length * 24));
  const xs = new DataView(new ArrayBuffer(shared * f.length * 8));
  let at = 0;
  rows.forEach((r, k) => {
    rb.setFloat64(k * 24, r.prediction, true);
    rb.setFloat64(k * 24 + 8, r.interval ? r.interval[0] : NaN, true);
    rb.setFloat64(k * 24 + 16, r.interval ? r.interval[1] : NaN, true);
    if (!sameFeatures(r.inputs)) return;
    for (const name of f) xs.setFloat64((at++) * 8, r.inputs[name]!, true);
  });
  const inOrder = rows.every((r, k) => r.row === k);
  const ri = new DataView(new ArrayBuffer(inOrder ? 0 : rows.length * 4));
  if (!inOrder) rows.forEach((r, k) => ri.setUint32(k * 4, r.row, true));
  const item: RequestItem = {
    id: first.requestId,
    model: first.model,
    version: first.version,
    ...(first.plant !== undefined ? { plant: first.plant } : {}),
    principal: first.principal,
    time: first.time,
    level: first.level,
    ttl: first.ttl,
    psk: `${plantKey(first.plant ?? null)}#${first.time}#${first.requestId}`,
    f,
    n: rows.length,
    rb: bytes(rb),
    ...(inOrder ? {} : { ri: bytes(ri) }),
    ...(xs.byteLength > 0 ? { xs: bytes(xs) } : {}),
    ...(own.length > 0 ? { xm: Object.fromEntries(own.map((k) => [String(k), packInputs(rows[k]!.inputs)])) } : {}),
    obs: {},
  };
  if (itemBytes(item as unknown as Record<string, unknown>) + rows.length * observationBytes > maxItemBytes) throw new Error(`served rows of request ${first.requestId} exceed DynamoDB's item size`);
  return item;
}

/**
 * The rows of a request item, either layout; `inputs` empty when the item was read without them
 * (`withInputs` false: `xs` and `xm` not asked for). Throws {@link CorruptServedRowsError} for a binary item whose
 * bytes do not hold what it claims; an item of neither layout has no rows.
 */
export function fromItem(item: RequestItem, withInputs = true): StoredPrediction[] {
  if (item.rb !== undefined) return fromBinary(item, withInputs);
  if (!Array.isArray(item.rows)) return []; // not a request item of a known layout
  const inputsOf = (row: NonNullable<RequestItem['rows']>[number], k: number): Record<string, number> => {
    if (!withInputs) return {};
    if (row.m) return row.m;
    const x = row.x ?? (item.xs as number[][] | undefined)?.[k] ?? [];
    return Object.fromEntries(item.f.map((name, j) => [name, x[j]!]));
  };
  return item.rows.map((row, k) => rowOf(item, row.r, row.p, row.i, inputsOf(row, k)));
}

function fromBinary(item: RequestItem, withInputs: boolean): StoredPrediction[] {
  const corrupt = (reason: string) => new CorruptServedRowsError(item.id, reason);
  const n = item.n;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) throw corrupt('no row count');
  if (!Array.isArray(item.f) || !item.f.every((name) => typeof name === 'string')) throw corrupt('no feature names');
  const rb = doubles(item.rb, n * 3, 'rb', corrupt);
  let indices: number[];
  if (item.ri === undefined) indices = Array.from({ length: n }, (_, k) => k);
  else {
    if (!(item.ri instanceof Uint8Array) || item.ri.byteLength !== n * 4) throw corrupt(`ri is not ${n} row indices`);
    const view = new DataView(item.ri.buffer, item.ri.byteOffset, item.ri.byteLength);
    indices = Array.from({ length: n }, (_, k) => view.getUint32(k * 4, true));
  }
  let own: Map<number, Record<string, number>> = new Map();
  let xs: Float64Array = new Float64Array(0);
  if (withInputs) {
    own = ownInputs(item.xm, n, corrupt);
    xs = doubles(item.xs, (n - own.size) * item.f.length, 'xs', corrupt);
    if (!xs.every(Number.isFinite)) throw corrupt('xs holds a number that is not finite');
  }
  let at = 0;
  return indices.map((r, k) => {
    const [p, lo, hi] = [rb[k * 3]!, rb[k * 3 + 1]!, rb[k * 3 + 2]!];
    if (!Number.isFinite(p)) throw corrupt(`row ${r}: the prediction is not finite`);
    const interval: [number, number] | null = Number.isNaN(lo) && Number.isNaN(hi) ? null : [lo, hi];
    if (interval && !interval.every(Number.isFinite)) throw corrupt(`row ${r}: an interval bound is not finite`);
    let inputs: Record<string, number> = {};
    if (withInputs) {
      inputs = own.get(k) ?? {};
      if (!own.has(k)) {
        for (const name of item.f) inputs[name] = xs[at++]!;
      }
    }
    return rowOf(item, r, p, interval, inputs);
  });
}

function rowOf(item: RequestItem, row: number, prediction: number, interval: [number, number] | null, inputs: Record<string, number>): StoredPrediction {
  const observed = item.obs?.[String(row)];
  return {
    requestId: item.id,
    row,
    model: item.model,
    version: item.version,
    ...(item.plant !== undefined ? { plant: item.plant } : {}),
    principal: item.principal,
    time: item.time,
    inputs,
    prediction,
    interval,
    level: item.level,
    ...(observed ? { actual: observed.a, observedAt: observed.t } : {}),
    ttl: item.ttl,
  };
}

/** `count` doubles read from `value` (absent: none), or an error naming the attribute when its length is not that. */
function doubles(value: unknown, count: number, name: string, corrupt: (reason: string) => Error): Float64Array {
  if (value === undefined && count === 0) return new Float64Array(0);
  if (!(value instanceof Uint8Array) || value.byteLength !== count * 8) throw corrupt(`${name} is not ${count} doubles`);
  const view = new DataView(value.buffer, value.byteOffset, value.byteLength);
  return Float64Array.from({ length: count }, (_, k) => view.getFloat64(k * 8, true));
}

/** The rows of `xm` by position, each with as many finite values as names. */
function ownInputs(xm: unknown, n: number, corrupt: (reason: string) => Error): Map<number, Record<string, number>> {
  const own = new Map<number, Record<string, number>>();
  if (xm === undefined) return own;
  if (typeof xm !== 'object' || xm === null) throw corrupt('xm is not a map');
  for (const [key, entry] of Object.entries(xm as Record<string, unknown>)) {
    const k = Number(key);
    const { f, x } = (entry ?? {}) as { f?: unknown; x?: unknown };
    if (!Number.isInteger(k) || k < 0 || k >= n || String(k) !== key) throw corrupt(`xm names row ${key} of ${n}`);
    if (!Array.isArray(f) || !f.every((name) => typeof name === 'string')) throw corrupt(`xm row ${key} has no feature names`);
    const values = doubles(x, f.length, `xm row ${key}`, corrupt);
    if (!values.every(Number.isFinite)) throw corrupt(`xm row ${key} holds a number that is not finite`);
    own.set(k, Object.fromEntries(f.map((name: string, j) => [name, values[j]!])));
  }
  return own;
}

/** One row's own inputs: names and values. */
function packInputs(inputs: Record<string, number>): { f: string[]; x?: Uint8Array } {
  const f = Object.keys(inputs);
  const x = new DataView(new ArrayBuffer(f.length * 8));
  f.forEach((name, j) => x.setFloat64(j * 8, inputs[name]!, true));
  // No empty binary value: a row without inputs has no `x`.
  return f.length > 0 ? { f, x: bytes(x) } : { f };
}

function bytes(view: DataView): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}
