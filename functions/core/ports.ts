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
