import type { Role } from './auth/roles.js';
import type { ModelManifest } from './manifest.js';
import type { ModelOwner } from './models/tenancy.js';

/**
 * The outside systems the domain needs, as small interfaces. Each has one AWS implementation in
 * functions/adapters/; the local twin uses the same implementations against embedded servers.
 */

export interface UserRecord {
  username: string;
  passwordHash: string;
  role: Role;
  plant?: string;
  active: boolean;
  created: string;
}

export interface UserStore {
  get(username: string): Promise<UserRecord | undefined>;
  /** Creates the user; resolves false (and writes nothing) when the username is taken. */
  create(user: UserRecord): Promise<boolean>;
}

export interface ModelPackage {
  manifest: ModelManifest;
  bytes: Uint8Array;
}

/** `models/<name>/routing.json`: which version(s) serve. See docs/models.md. */
export interface ModelRouting {
  schemaVersion: 1;
  /** The primary version: what activate sets and rollback returns from. */
  active: string;
  updated: string;
  /** A/B split; absent = all traffic to `active`. Weights sum to 1. */
  variants?: { version: string; weight: number }[];
  /** `random` per request (the chapter's), or `sticky` by a hash of the principal or its plant. */
  mode?: 'random' | 'sticky';
  stickyBy?: 'principal' | 'plant';
  /** Gets a copy of traffic; its predictions are recorded, never returned. */
  shadow?: string;
  /** Previously active versions, newest last (rollback pops). */
  history?: string[];
}

export interface ModelStore {
  /** Reads and verifies a package (manifest schema and model.onnx digest). */
  getPackage(name: string, version: string): Promise<ModelPackage>;
  getRouting(name: string): Promise<ModelRouting | undefined>;
  putRouting(name: string, routing: ModelRouting): Promise<void>;
  /** Writes a package; resolves false when that version exists already (packages are immutable). */
  putPackage(pkg: ModelPackage): Promise<boolean>;
  listVersions(name: string): Promise<string[]>;
  listModels(): Promise<string[]>;
  /** `models/<name>/owner.json`; undefined when absent (a model published before owners: platform-wide). */
  getOwner(name: string): Promise<ModelOwner | undefined>;
  /**
   * Records the owner unless one is recorded already (create-only); resolves the owner that stands, which
   * is `owner` only when this call wrote it.
   */
  claimOwner(name: string, owner: ModelOwner): Promise<ModelOwner>;
}

/**
 * Moves model bytes beside the API instead of through it (Lambda's synchronous payload is 6 MB): presigned
 * S3 URLs in AWS and on the local twin (its embedded S3). Edge boxes, which store models on disk, have none.
 */
export interface PackageTransfer {
  /** A URL the caller PUTs `key`'s bytes to (`content-type: application/octet-stream`). */
  uploadUrl(key: string, expiresInSeconds: number): Promise<string>;
  /**
   * What was uploaded at `key`: its bytes, `too_large` when it is over `maxBytes` (judged from the object's
   * length before its body is read, so an oversized upload costs nothing), undefined when nothing was.
   */
  readUpload(key: string, maxBytes: number): Promise<Uint8Array | 'too_large' | undefined>;
  /** A URL the caller GETs a published version's model.onnx from. */
  modelUrl(name: string, version: string, expiresInSeconds: number): Promise<string>;
}

/** One request's contribution to a variant's counters. */
export interface VariantSample {
  requests: number;
  errors: number;
  rows: number;
  /** Sum of the predictions of the rows. */
  predictionSum: number;
  latencyMs: number;
  cacheHits: number;
  alerts: number;
  /** Shadow traffic is counted apart from the variants that answer. */
  shadow?: boolean;
}

export interface VariantCounters {
  version: string;
  shadow: boolean;
  requests: number;
  errors: number;
  rows: number;
  predictionSum: number;
  latencySumMs: number;
  cacheHits: number;
  alerts: number;
  /** Request counts per latency bucket, bounds in {@link latencyBucketsMs}. */
  latencyHistogram: number[];
}

/** Upper bounds (ms) of the latency histogram buckets; the last bucket is everything above. */
export const latencyBucketsMs = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000] as const;

/**
 * Deployment-wide counters (every container adds to the same items with atomic ADDs). A sample served to a
 * plant's principal is also added to that plant's own counters, which are all a plant's principals read.
 */
export interface StatsStore {
  record(model: string, version: string, sample: VariantSample, plant?: string): Promise<void>;
  /** The deployment's counters, or with `plant` that plant's only. */
  read(model: string, plant?: string): Promise<VariantCounters[]>;
}

/** How an imported record is told apart from one this deployment wrote itself (docs/security.md). */
export interface ImportMark {
  /** The principal that imported it (token subject). */
  by: string;
  /** The edge box it came from, as the importer named it. */
  edge: string;
  /** When it was imported (ISO). */
  at: string;
}

export interface AlertEvent {
  id: string;
  time: string;
  kind: 'alert' | 'resolved';
  model: string;
  version: string;
  rule: 'below_min' | 'above_max';
  severity: 'warning' | 'critical' | 'info';
  principal: string;
  plant?: string;
  inputs: Record<string, number>;
  prediction: number;
  interval: [number, number] | null;
  thresholds: { min: number; max: number };
  requestId: string;
  /** Present only on events imported from an edge box. */
  imported?: ImportMark;
}

export interface AlertClaim {
  at: string;
  /** The state before the claim; absent when the claim created it. */
  previous?: { state: 'firing' | 'resolved'; lastSent: string };
}

/** Alert cooldown state per (model, rule, principal), and the recent alert history. */
export interface AlertStateStore {
  /**
   * Claims the right to send an alert: granted at most once per cooldown window, across all containers.
   * The claim remembers the state it replaced so that {@link release} can put it back.
   */
  claim(key: string, now: string, cooldownSeconds: number): Promise<AlertClaim | undefined>;
  /** Gives a claim back after a failed publish: the state is as if the breach never claimed, so the next one retries. */
  release(key: string, claim: AlertClaim): Promise<void>;
  /** Marks a firing alert resolved: true for exactly one caller. */
  resolve(key: string, now: string): Promise<boolean>;
  unresolve(key: string, resolvedAt: string): Promise<void>;
  isFiring(key: string): Promise<boolean>;
  /**
   * Settles a claim whose alert the per-plant cap held back (./alerts/cap.ts): the cooldown it started stands
   * (the same breach is not counted again within it), but nothing is firing that was not before, so no
   * "resolved" follows an alert nobody was sent.
   */
  suppress(key: string, claim: AlertClaim): Promise<void>;
  /** Stores an alert event once (its id is the key). */
  recordEvent(event: AlertEvent): Promise<'stored' | 'duplicate'>;
  recentEvents(model: string | undefined, limit: number, plant?: string): Promise<AlertEvent[]>;
}

/**
 * The per-plant alert cap's counts (./alerts/cap.ts), shared by every container. `scope` is `plant#<plant>`
 * or `platform`; `window` the ISO start of the window; `expires` epoch seconds (TTL).
 */
export interface AlertCapStore {
  /** Counts one alert sent in the window if fewer than `cap` are: true when counted (atomic across containers). */
  take(scope: string, window: string, cap: number, expires: number): Promise<boolean>;
  /** Counts one alert held back, of `model`; resolves to how many the window has held back now. */
  hold(scope: string, window: string, model: string, expires: number): Promise<number>;
  /** Notes that the window owes a summary (once it is over). */
  owe(scope: string, window: string, expires: number): Promise<void>;
  /** Windows that started before `before` and owe a summary, oldest first, at most `limit`. */
  owed(before: string, limit: number): Promise<{ scope: string; window: string }[]>;
  /** Takes a window's owed summary, for exactly one caller: its counts, or undefined when another took it. */
  settle(scope: string, window: string): Promise<{ sent: number; held: number; models: string[] } | undefined>;
  /** Puts an owed summary back (its publish failed), so the next run sends it. */
  unsettle(scope: string, window: string, expires: number): Promise<void>;
  /** Notes that `scope` held alerts back in `window` (the window's first held-back alert): listed by {@link heldScopes}. */
  noteHeld(scope: string, window: string, expires: number): Promise<void>;
  /** The counts of `scope`'s windows that started at or after `from`, newest first (one partition's read). */
  windows(scope: string, from: string): Promise<CapWindowCounts[]>;
  /** Every scope and window that held alerts back, started at or after `from`, newest first, at most `limit`. */
  heldScopes(from: string, limit: number): Promise<{ scope: string; window: string }[]>;
}

/** One window's counts of a plant (or the platform) under the alert cap; `ttl` epoch seconds. */
export interface CapWindowCounts {
  window: string;
  sent: number;
  held: number;
  models: string[];
  ttl: number;
}

export interface AlertPublisher {
  publish(message: { subject: string; body: string; attributes: Record<string, string> }): Promise<void>;
}

/** Operational counters (CloudWatch EMF in Lambda); fire-and-forget, never throws. */
export interface Telemetry {
  count(metric: string, value?: number, dimensions?: Record<string, string>): void;
}

export interface UserChanges {
  role?: Role;
  active?: boolean;
  passwordHash?: string;
}

export interface UserDirectory extends UserStore {
  list(): Promise<UserRecord[]>;
  /** Applies the changes to an existing user; resolves undefined when there is no such user. */
  update(username: string, changes: UserChanges, updated: string): Promise<UserRecord | undefined>;
}

export interface ApiKeyRecord {
  /** The public part of the key (`tw_<keyId>_<secret>`), also its id. */
  keyId: string;
  /** SHA-256 (hex) of the whole key; the key itself is never stored. */
  hash: string;
  owner: string;
  plant?: string;
  name: string;
  scopes: string[];
  created: string;
  expiresAt: string;
  rateLimitPerMinute?: number;
  lastUsed?: string;
  revokedAt?: string;
  /** After a rotation, the old secret's hash, valid until previousHashExpiresAt. */
  previousHash?: string;
  previousHashExpiresAt?: string;
  rotatedAt?: string;
}

export interface ApiKeyStore {
  get(keyId: string): Promise<ApiKeyRecord | undefined>;
  /** Resolves false when the id exists already. */
  create(record: ApiKeyRecord): Promise<boolean>;
  listByOwner(owner: string): Promise<ApiKeyRecord[]>;
  listAll(): Promise<ApiKeyRecord[]>;
  /** Marks the key revoked; undefined when there is no such key. */
  revoke(keyId: string, at: string): Promise<ApiKeyRecord | undefined>;
  /** Replaces the hash only if it is still `expectedHash` (no lost rotation under concurrency). */
  rotate(keyId: string, expectedHash: string, change: { hash: string; previousHash: string; previousHashExpiresAt: string; rotatedAt: string }): Promise<ApiKeyRecord | undefined>;
  touch(keyId: string, at: string): Promise<void>;
}

export interface RateDecision {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** Seconds until the window resets. */
  resetSeconds: number;
}

export interface RateLimiter {
  /**
   * Takes `cost` (default 1: one request) from `bucket`'s current window with one atomic conditional update;
   * refused whole when the window has less than `cost` left.
   */
  take(bucket: string, limit: number, windowSeconds: number, cost?: number): Promise<RateDecision>;
  /**
   * Gives back the allowed take that answered `decision` (one this limiter returned for `bucket`, its whole
   * cost), to the window it counted in: for a request refused by a second bucket it also needed, so the
   * counters hold exactly the admitted requests.
   */
  refund(bucket: string, decision: RateDecision): Promise<void>;
}

export interface AuditRecord {
  time: string;
  requestId: string;
  principal: string;
  principalType: 'user' | 'key' | 'anonymous';
  /** For unauthenticated calls (login, token): who the caller claimed to be (a username or key id). */
  subject?: string;
  role?: string;
  plant?: string;
  action: string;
  method: string;
  resource: string;
  outcome: number;
  errorCode?: string;
  sourceIp?: string;
  userAgent?: string;
  modelVersion?: string;
  keyId?: string;
  /** Present only on records imported from an edge box; a native record never has it. */
  imported?: ImportMark;
}

export interface AuditQuery {
  principal?: string;
  action?: string;
  /** An exact status, or a class. */
  outcome?: number | 'success' | 'failure';
  plant?: string;
  /** Only records this deployment wrote (`native`) or only imported ones. */
  origin?: 'native' | 'imported';
  from: string;
  to: string;
  limit: number;
  cursor?: string;
}

export interface AuditLog {
  /** Resolves when the record is stored; a record with the same principal, time and request id is kept once. */
  write(record: AuditRecord): Promise<'stored' | 'duplicate'>;
  /**
   * A request's own record (its request id is unique): resolves only when it is durably stored, rejects if it
   * is not. Implementations may write it together with other requests' records (group commit).
   */
  append(record: AuditRecord): Promise<void>;
  query(query: AuditQuery): Promise<{ items: AuditRecord[]; nextCursor?: string }>;
}
