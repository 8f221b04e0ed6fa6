import type { Role } from './auth/roles.js';
import type { ModelManifest } from './manifest.js';

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

export interface ModelRouting {
  schemaVersion: 1;
  active: string;
  updated: string;
}

export interface ModelStore {
  /** Reads and verifies a package (manifest schema and model.onnx digest). */
  getPackage(name: string, version: string): Promise<ModelPackage>;
  getRouting(name: string): Promise<ModelRouting | undefined>;
  putRouting(name: string, routing: ModelRouting): Promise<void>;
  /** Writes a package; resolves false when that version exists already (packages are immutable). */
  putPackage(pkg: ModelPackage): Promise<boolean>;
  listVersions(name: string): Promise<string[]>;
}

/** Deployment-wide counters (every container adds to the same items). */
export interface StatsStore {
  addPredictions(model: string, version: string, requests: number, rows: number): Promise<void>;
  getPredictions(model: string): Promise<{ requests: number; rows: number; byVersion: Record<string, { requests: number; rows: number }> }>;
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
  /** Takes one request from `bucket`'s current window with one atomic conditional update. */
  take(bucket: string, limit: number, windowSeconds: number): Promise<RateDecision>;
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
}

export interface AuditQuery {
  principal?: string;
  action?: string;
  /** An exact status, or a class. */
  outcome?: number | 'success' | 'failure';
  plant?: string;
  from: string;
  to: string;
  limit: number;
  cursor?: string;
}

export interface AuditLog {
  /** Resolves when the record is stored. */
  write(record: AuditRecord): Promise<void>;
  query(query: AuditQuery): Promise<{ items: AuditRecord[]; nextCursor?: string }>;
}
