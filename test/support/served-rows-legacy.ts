import type { StoredPrediction } from '../../functions/core/quality/ports.js';

/**
 * A request item exactly as the Predictions adapter stored it before the binary layout (its `toItem` up to
 * commit b55fa69): `rows` a list of maps (r, p, i, m), `xs` a list of number lists. Items like these are in
 * deployed tables and local data dirs, and must read as they did.
 */
export function legacyItem(rows: readonly StoredPrediction[]): Record<string, unknown> {
  const first = rows[0]!;
  const f = Object.keys(first.inputs);
  const sameFeatures = (inputs: Record<string, number>) => Object.keys(inputs).length === f.length && f.every((name) => inputs[name] !== undefined);
  return {
    id: first.requestId,
    model: first.model,
    version: first.version,
    ...(first.plant !== undefined ? { plant: first.plant } : {}),
    principal: first.principal,
    time: first.time,
    level: first.level,
    ttl: first.ttl,
    psk: `${first.plant ?? '-'}#${first.time}#${first.requestId}`,
    f,
    rows: rows.map((r) => ({ r: r.row, ...(sameFeatures(r.inputs) ? {} : { m: r.inputs }), p: r.prediction, i: r.interval })),
    xs: rows.map((r) => (sameFeatures(r.inputs) ? f.map((name) => r.inputs[name]!) : [])),
    obs: {},
  };
}
