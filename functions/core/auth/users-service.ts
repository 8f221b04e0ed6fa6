import * as z from 'zod';
import { ConflictError, ForbiddenError, NotFoundError } from '../errors.js';
import type { UserDirectory, UserRecord } from '../ports.js';
import { canSeePlant, isPlatformAdmin } from './access.js';
import { hashPassword, verifyPassword } from './passwords.js';
import { roleSchema } from './roles.js';
import type { Principal } from './tokens.js';

export const usernameSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._-]{2,63}$/, 'must be 3-64 lower-case letters, digits, dot, dash or underscore, starting with a letter or digit');
export const passwordSchema = z.string().min(8, 'must be at least 8 characters').max(256);
export const plantSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/, 'must be letters, digits, dash or underscore (max 64)');

export const createUserRequestSchema = z.strictObject({
  username: usernameSchema,
  password: passwordSchema,
  role: roleSchema,
  plant: plantSchema.optional(),
});
export const updateUserRequestSchema = z
  .strictObject({ role: roleSchema.optional(), active: z.boolean().optional() })
  .refine((b) => b.role !== undefined || b.active !== undefined, { message: 'give role or active', path: ['role'] });
export const setPasswordRequestSchema = z.strictObject({ password: passwordSchema, current_password: z.string().max(1024).optional() });

export interface UserView {
  username: string;
  role: UserRecord['role'];
  plant: string | null;
  active: boolean;
  created: string;
}

function view(user: UserRecord): UserView {
  return { username: user.username, role: user.role, plant: user.plant ?? null, active: user.active, created: user.created };
}

/** Users and roles. Platform admins manage everyone; a plant's admin only that plant's users. */
export class UserService {
  constructor(
    private readonly users: UserDirectory,
    private readonly options: { now?: () => number } = {},
  ) {}

  private now(): string {
    return new Date(this.options.now?.() ?? Date.now()).toISOString();
  }

  private requireAdmin(principal: Principal, plant: string | undefined): void {
    if (principal.type !== 'user' || principal.role !== 'admin' || !canSeePlant(principal, plant)) {
      throw new ForbiddenError('Only an admin of this plant (or a platform admin) may manage its users');
    }
  }

  async create(principal: Principal, request: z.infer<typeof createUserRequestSchema>): Promise<UserView> {
    // A plant admin's users belong to its plant; only a platform admin creates plant-less (platform) users.
    const plant = request.plant ?? (isPlatformAdmin(principal) ? undefined : principal.plant);
    this.requireAdmin(principal, plant);
    const user: UserRecord = {
      username: request.username,
      passwordHash: await hashPassword(request.password),
      role: request.role,
      active: true,
      created: this.now(),
      ...(plant ? { plant } : {}),
    };
    if (!(await this.users.create(user))) throw new ConflictError(`User ${request.username} exists`);
    return view(user);
  }

  async list(principal: Principal): Promise<{ users: UserView[] }> {
    this.requireAdmin(principal, principal.plant);
    const all = await this.users.list();
    const visible = all.filter((u) => canSeePlant(principal, u.plant));
    visible.sort((a, b) => a.username.localeCompare(b.username));
    return { users: visible.map(view) };
  }

  private async visibleUser(principal: Principal, username: string): Promise<UserRecord> {
    if (!usernameSchema.safeParse(username).success) throw new NotFoundError('No user with that name');
    const user = await this.users.get(username);
    if (!user || !canSeePlant(principal, user.plant)) throw new NotFoundError(`No user ${username}`);
    return user;
  }

  async update(principal: Principal, username: string, changes: z.infer<typeof updateUserRequestSchema>): Promise<UserView> {
    this.requireAdmin(principal, principal.plant);
    const user = await this.visibleUser(principal, username);
    const changed = (['role', 'active'] as const).filter((f) => changes[f] !== undefined && changes[f] !== user[f]);
    // Nobody raises, restores or demotes itself, platform admins included: a stale or stolen admin session
    // must not undo its own demotion or deactivation (docs/security.md, "Self-change rule"). A plant is not
    // changeable through the API at all (the schema refuses it), for oneself or anyone.
    if (user.username === principal.username && changed.length > 0) {
      throw new ForbiddenError(`Nobody may change their own ${changed.join(' or ')} (ask another admin)`, changed.map((f) => ({ field: f, rule: 'not_self', message: 'another admin must change this' })));
    }
    const updated = await this.users.update(user.username, changes, this.now());
    if (!updated) throw new NotFoundError(`No user ${username}`);
    return view(updated);
  }

  async setPassword(principal: Principal, username: string, request: z.infer<typeof setPasswordRequestSchema>): Promise<{ username: string; updated: true }> {
    if (!usernameSchema.safeParse(username).success) throw new NotFoundError('No user with that name');
    const self = principal.type === 'user' && principal.username === username;
    if (self) {
      const user = await this.users.get(username);
      if (!user || !request.current_password || !(await verifyPassword(request.current_password, user.passwordHash))) {
        throw new ForbiddenError('current_password is missing or wrong', [
          { field: 'current_password', rule: 'matches_current', message: 'give your current password to set a new one' },
        ]);
      }
    } else {
      this.requireAdmin(principal, principal.plant);
      await this.visibleUser(principal, username);
    }
    const updated = await this.users.update(username, { passwordHash: await hashPassword(request.password) }, this.now());
    if (!updated) throw new NotFoundError(`No user ${username}`);
    return { username, updated: true };
  }
}
