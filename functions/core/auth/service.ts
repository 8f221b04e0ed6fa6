import { z } from 'zod';
import { InvalidCredentialsError } from '../errors.js';
import type { UserStore } from '../ports.js';
import { dummyPasswordHash, verifyPassword } from './passwords.js';
import { scopesForRole } from './roles.js';
import type { TokenIssuer } from './tokens.js';

export const loginRequestSchema = z.object({
  username: z.string().min(1).max(128),
  password: z.string().min(1).max(1024),
});
export type LoginRequest = z.infer<typeof loginRequestSchema>;

export interface LoginResponse {
  /** The chapter's field. */
  token: string;
  /** OAuth2's name for the same token. */
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  scope: string;
}

/** Password login: one answer for every failure, and the same work whether or not the user exists. */
export class AuthService {
  constructor(
    private readonly users: UserStore,
    private readonly issuer: TokenIssuer,
    private readonly options: { userTokenTtlSeconds: number },
  ) {}

  async login({ username, password }: LoginRequest): Promise<LoginResponse> {
    const user = await this.users.get(username);
    const valid = await verifyPassword(password, user?.passwordHash ?? (await dummyPasswordHash()));
    if (!user || !valid || !user.active) throw new InvalidCredentialsError();
    const issued = await this.issuer.issue(
      { sub: user.username, role: user.role, scopes: scopesForRole(user.role), principalType: 'user', ...(user.plant ? { plant: user.plant } : {}) },
      this.options.userTokenTtlSeconds,
    );
    return { token: issued.token, access_token: issued.token, token_type: 'Bearer', expires_in: issued.expiresIn, scope: issued.scope };
  }
}
