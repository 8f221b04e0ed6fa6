// The request body limits of the route contracts (functions/contracts.ts, functions/insight-contracts.ts): a body
// over its route's limit is refused (413 PAYLOAD_TOO_LARGE naming `body`, rule `max_bytes`) before it is decoded
// or parsed (functions/core/json-body.ts). Each limit is sized to the largest body its routes take.

/**
 * The public routes' limit: a login or token request is under 1 KB. Unbounded, anyone could make the twin parse
 * 6 MB of JSON per request (a 5 MB object of 400,000 keys costs ~0.45 s of CPU) before any rate limit.
 */
export const publicBodyBytes = 16 * 1024;

/**
 * Every other route's limit unless its contract says more: the largest body these routes take is one row of a
 * model's features (at most 256, names of at most 64 characters) or a few settings, under 32 KB even
 * pretty-printed (test/unit/body-limits.test.ts). Bodies are parsed after the rate-limit take; a limit that fits
 * the route keeps one charged request from making the twin parse 6 MB where it needs a few hundred bytes.
 */
export const defaultBodyBytes = 64 * 1024;

/** The routes that take up to 100 rows, many records or a model package: Lambda's own request limit, 6 MB. */
export const largeBodyBytes = 6 * 1024 * 1024;
