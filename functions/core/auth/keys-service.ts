import * as z from 'zod';
import { ApiKeyRejectedError, ForbiddenError, InvalidRequestError, NotFoundError, ConflictError } from '../errors.js';
import type { ApiKeyRecord, ApiKeyStore, UserDirectory, UserRecord } from '../ports.js';
import { canSeePlant, isPlatformAdmin } from './access.js';
import { hashApiKey, keyHashMatches, newApiKey, newKeyId, parseApiKey } from './api-keys.js';
import { scopes as allScopes, scopesForRole, type Scope } from './roles.js';
import type { Principal } from './tokens.js';

/** Scopes a key may ever carry: a key never manages keys or users (a stolen key cannot mint more access). */
export const keyGrantableScopes: readonly Scope[] = ['twin:predict', 'twin:read', 'models:read', 'models:write', 'audit:read', 'twin:feedback'];

/** Keys per owner that are neither revoked nor expired (docs/security.md, "Key limits"). */
export const maxActiveKeysPerOwner = 10;

export const createKeyRequestSchema = z.strictObject({
  name: z.string().trim().min(1).max(64),
  scopes: z.array(z.enum(allScopes)).min(1).max(allScopes.length).optional(),
  expires_in_days: z.number().int().min(1).max(365).default(90),
  rate_limit_per_minute: z.number().int().min(1).max(1_000_000).optional(),
  /** An admin may create a key for another user of a plant it administers. */
  owner: z.string().min(1).max(64).optional(),
});
export type CreateKeyRequest = z.infer<typeof createKeyRequestSchema>;

export interface KeyView {
  id: string;
  prefix: string;
  name: string;
  owner: string;
  plant: string | null;
  scopes: string[];
  status: 'active' | 'revoked' | 'expired';
  created: string;
  expires_at: string;
  last_used: string | null;
  revoked_at: string | null;
  rate_limit_per_minute: number | null;
  previous_secret_valid_until: string | null;
}

export function keyStatus(record: ApiKeyRecord, now: number): KeyView['status'] {
  if (record.revokedAt) return 'revoked';
  if (Date.parse(record.expiresAt) <= now) return 'expired';
  return 'active';
}

/** The API-key lifecycle: create (shown once), list, revoke, rotate with a grace period, exchange. */
export class KeyService {
  constructor(
    private readonly keys: ApiKeyStore,
    private readonly users: UserDirectory,
    private readonly options: {
      rotationGraceSeconds: number;
      /** A user's requests per minute (the deployment's per-principal limit): no key of it gets more. */
      ownerLimitPerMinute: number;
      /** @default maxActiveKeysPerOwner */
      maxKeysPerOwner?: number;
      now?: () => number;
    },
  ) {}

  private now(): number {
    return this.options.now?.() ?? Date.now();
  }

  view(record: ApiKeyRecord): KeyView {
    const now = this.now();
    const graceOpen = record.previousHashExpiresAt && Date.parse(record.previousHashExpiresAt) > now;
    return {
      id: record.keyId,
      prefix: `tw_${record.keyId}`,
      name: record.name,
      owner: record.owner,
      plant: record.plant ?? null,
      scopes: record.scopes,
      status: keyStatus(record, now),
      created: record.created,
      expires_at: record.expiresAt,
      last_used: record.lastUsed ?? null,
      revoked_at: record.revokedAt ?? null,
      rate_limit_per_minute: record.rateLimitPerMinute ?? null,
      previous_secret_valid_until: graceOpen ? record.previousHashExpiresAt! : null,
    };
  }

  private assertUserPrincipal(principal: Principal): void {
    if (principal.type !== 'user') throw new ForbiddenError('API keys cannot manage API keys');
  }

  async create(principal: Principal, request: CreateKeyRequest): Promise<KeyView & { key: string }> {
    this.assertUserPrincipal(principal);
    const ownerName = request.owner ?? principal.username;
    let owner: UserRecord | undefined;
    if (ownerName !== principal.username) {
      owner = await this.users.get(ownerName);
      if (principal.role !== 'admin' || !owner || !canSeePlant(principal, owner.plant)) {
        throw new ForbiddenError('Only an admin of the owner’s plant may create keys for another user', [
          { field: 'owner', rule: 'admin_of_plant', message: 'you may create keys only for yourself' },
        ]);
      }
    } else {
      owner = await this.users.get(ownerName);
    }
    if (!owner || !owner.active) throw new ForbiddenError('The key owner is not an active user');
    const allowed = scopesForRole(owner.role).filter((s) => keyGrantableScopes.includes(s));
    const requested = request.scopes ?? allowed;
    const denied = requested.filter((s) => !allowed.includes(s));
    if (denied.length > 0) {
      throw new ForbiddenError(`A key of ${owner.username} may carry only: ${allowed.join(', ')}`, [
        { field: 'scopes', rule: 'subset_of_owner', message: `not grantable to this key: ${denied.join(', ')}` },
      ]);
    }
    // A key draws on its owner's budget (PrincipalRateLimit): it may ask for less, never for more.
    const ownerLimit = this.options.ownerLimitPerMinute;
    if (request.rate_limit_per_minute !== undefined && request.rate_limit_per_minute > ownerLimit) {
      throw new InvalidRequestError(`rate_limit_per_minute may be at most the owner's limit (${ownerLimit} per minute)`, [
        { field: 'rate_limit_per_minute', rule: 'max_owner_limit', message: `at most ${ownerLimit}, the owner's requests per minute` },
      ]);
    }
    const now = this.now();
    const maxKeys = this.options.maxKeysPerOwner ?? maxActiveKeysPerOwner;
    const live = (await this.keys.listByOwner(owner.username)).filter((k) => keyStatus(k, now) === 'active').length;
    if (live >= maxKeys) {
      throw new ConflictError(`${owner.username} has ${live} active API keys, the most allowed is ${maxKeys}: revoke one first`, [
        { field: 'owner', rule: 'max_keys_per_owner', message: `at most ${maxKeys} active keys per owner` },
      ]);
    }
    for (let attempt = 0; attempt < 3; attempt++) {
      const keyId = newKeyId();
      const key = newApiKey(keyId);
      const record: ApiKeyRecord = {
        keyId,
        hash: hashApiKey(key),
        owner: owner.username,
        ...(owner.plant ? { plant: owner.plant } : {}),
        name: request.name,
        scopes: [...new Set(requested)],
        created: new Date(now).toISOString(),
        expiresAt: new Date(now + request.expires_in_days * 86_400_000).toISOString(),
        ...(request.rate_limit_per_minute ? { rateLimitPerMinute: request.rate_limit_per_minute } : {}),
      };
      if (await this.keys.create(record)) return { ...this.view(record), key };
    }
    throw new ConflictError('Could not allocate a key id; try again');
  }

  async list(principal: Principal): Promise<{ keys: KeyView[] }> {
    let records: ApiKeyRecord[];
    if (isPlatformAdmin(principal)) records = await this.keys.listAll();
    else if (principal.role === 'admin') records = (await this.keys.listAll()).filter((k) => k.plant === principal.plant);
    else records = await this.keys.listByOwner(principal.username);
    records.sort((a, b) => b.created.localeCompare(a.created));
    return { keys: records.map((r) => this.view(r)) };
  }

  /** A key the principal may act on: its own, or one of its plant's when admin. 404 otherwise (no probing). */
  private async ownedKey(principal: Principal, keyId: string): Promise<ApiKeyRecord> {
    this.assertUserPrincipal(principal);
    // Anything that is not a key id is no key (and never reaches the store).
    if (!/^[a-z2-7]{12}$/.test(keyId)) throw new NotFoundError('No API key with that id');
    const record = await this.keys.get(keyId);
    const mayAct = record && (record.owner === principal.username || (principal.role === 'admin' && canSeePlant(principal, record.plant)));
    if (!record || !mayAct) throw new NotFoundError(`No API key ${keyId}`);
    return record;
  }

  async revoke(principal: Principal, keyId: string): Promise<KeyView> {
    const record = await this.ownedKey(principal, keyId);
    if (record.revokedAt) return this.view(record);
    const revoked = await this.keys.revoke(keyId, new Date(this.now()).toISOString());
    if (!revoked) throw new NotFoundError(`No API key ${keyId}`);
    return this.view(revoked);
  }

  async rotate(principal: Principal, keyId: string): Promise<KeyView & { key: string }> {
    const record = await this.ownedKey(principal, keyId);
    const status = keyStatus(record, this.now());
    if (status !== 'active') throw new ConflictError(`API key ${keyId} is ${status}; create a new one`);
    const key = newApiKey(keyId);
    const now = this.now();
    const rotated = await this.keys.rotate(keyId, record.hash, {
      hash: hashApiKey(key),
      previousHash: record.hash,
      previousHashExpiresAt: new Date(now + this.options.rotationGraceSeconds * 1000).toISOString(),
      rotatedAt: new Date(now).toISOString(),
    });
    if (!rotated) throw new ConflictError(`API key ${keyId} was rotated or revoked concurrently; try again`);
    return { ...this.view(rotated), key };
  }

  /**
   * Checks a presented key for the token endpoint. Every rejection has its own code; a wrong secret for an
   * existing id answers as an unknown key does.
   */
  async verify(presented: string): Promise<{ record: ApiKeyRecord; owner: UserRecord; scopes: Scope[] }> {
    const parsed = parseApiKey(presented);
    if (!parsed) throw new ApiKeyRejectedError('KEY_MALFORMED', 'API key is malformed: expected tw_<id>_<secret>');
    const record = await this.keys.get(parsed.keyId);
    const hash = hashApiKey(presented);
    const now = this.now();
    const matchesCurrent = keyHashMatches(hash, record?.hash);
    const matchesPrevious =
      !matchesCurrent &&
      keyHashMatches(hash, record?.previousHash) &&
      record?.previousHashExpiresAt !== undefined &&
      Date.parse(record.previousHashExpiresAt) > now;
    if (!record || !(matchesCurrent || matchesPrevious)) throw new ApiKeyRejectedError('KEY_INVALID', 'API key is not valid');
    if (record.revokedAt) throw new ApiKeyRejectedError('KEY_REVOKED', 'API key has been revoked');
    if (Date.parse(record.expiresAt) <= now) throw new ApiKeyRejectedError('KEY_EXPIRED', 'API key has expired');
    const owner = await this.users.get(record.owner);
    if (!owner || !owner.active) throw new ApiKeyRejectedError('KEY_REVOKED', 'API key owner is no longer active');
    // A key never holds more than its owner's role grants today.
    const ownerScopes = scopesForRole(owner.role);
    const scopes = record.scopes.filter((s): s is Scope => ownerScopes.includes(s as Scope) && keyGrantableScopes.includes(s as Scope));
    await this.keys.touch(record.keyId, new Date(now).toISOString());
    return { record, owner, scopes };
  }
}
