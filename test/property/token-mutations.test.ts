import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { base64url, importJWK, type JWK, type JWTPayload, type KeyInput } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  apiClient,
  audience,
  claimsFor,
  login,
  nowSeconds,
  readSigningKeys,
  signToken,
  startTestTwin,
  validRow,
  type Api,
  type ApiResponse,
  type SigningKey,
  type TestTwin,
} from '../support/twin.js';

/**
 * Property tests of the authorizer (infra/local/jwt-authorizer.ts, the same checks as API Gateway's JWT authorizer).
 * The fixed cases (alg none, HS256 with the public key, expiry, issuer, audience, kid, scopes, tampering) are
 * in test/api/twin.security.test.ts and tokens.security.test.ts; here:
 * - any change to a valid token's bytes (header, payload or signature; flips, truncations, insertions,
 *   segment swaps) is refused with 401 before any function runs;
 * - for any combination of claims signed with the real key, the decision is the documented rule's.
 */

let t: TestTwin;
let api: Api;
let signing: SigningKey;
/** Valid tokens: the login token and one minted with the real key. */
let valid: string[];
/** The real private key, imported once per RSA algorithm (a WebCrypto key is bound to one hash). */
const keyFor: Partial<Record<'RS256' | 'RS384' | 'RS512', KeyInput>> = {};

beforeAll(async () => {
  t = await startTestTwin();
  api = apiClient(t.url);
  [signing] = (await readSigningKeys(t.dataDir)) as [SigningKey];
  valid = [await login(api), await signToken(claimsFor(t.url, { exp: nowSeconds() + 3600 }), signing.key, { kid: signing.kid })];
  const file = JSON.parse(await readFile(join(t.dataDir, 'signing-keys.json'), 'utf8')) as { keys: { kid: string; privateJwk: JWK }[] };
  const privateJwk = file.keys.find((k) => k.kid === signing.kid)!.privateJwk;
  for (const alg of ['RS256', 'RS384', 'RS512'] as const) keyFor[alg] = await importJWK({ ...privateJwk, alg }, alg);
}, 60_000);

afterAll(async () => {
  await t?.stop();
});

const predict = (token: string) => api('POST', '/api/v1/twin/predict', { token, body: validRow });

function expectRefusedByAuthorizer(res: ApiResponse, what: string): void {
  expect(res.status, `${what} -> ${res.status} ${res.text}`).toBe(401);
  expect(res.json, what).toEqual({ message: 'Unauthorized' });
  // The gateway answered: no function ran (functions set x-request-id).
  expect(res.headers.get('x-request-id'), what).toBeNull();
}

// ---------------------------------------------------------------------------------------------------------
// Mutations

type Segments = [Uint8Array, Uint8Array, Uint8Array];

function decode(token: string): Segments {
  const [h, p, s] = token.split('.');
  return [base64url.decode(h!), base64url.decode(p!), base64url.decode(s!)];
}

function encode(segments: readonly Uint8Array[]): string {
  return segments.map((s) => base64url.encode(s)).join('.');
}

type Mutation =
  | { kind: 'flip'; segment: 0 | 1 | 2; at: number; mask: number }
  | { kind: 'truncate'; segment: 0 | 1 | 2; keep: number }
  | { kind: 'insert'; segment: 0 | 1 | 2; at: number; byte: number }
  | { kind: 'delete'; segment: 0 | 1 | 2; at: number }
  | { kind: 'swap'; a: 0 | 1 | 2; b: 0 | 1 | 2 }
  | { kind: 'text'; at: number; char: string };

const segmentIndex = fc.constantFrom<0 | 1 | 2>(0, 1, 2);
const base64urlChar = fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.split(''));

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('flip' as const), segment: segmentIndex, at: fc.nat(), mask: fc.integer({ min: 1, max: 255 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncate' as const), segment: segmentIndex, keep: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('insert' as const), segment: segmentIndex, at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), segment: segmentIndex, at: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('swap' as const), a: segmentIndex, b: segmentIndex }) },
  // A character of the compact form replaced (a base64url character, or a separator or padding).
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('text' as const), at: fc.nat(), char: fc.oneof(base64urlChar, fc.constantFrom('.', '=', '+', '/', ' ', '%')) }) },
);

function apply(token: string, m: Mutation): string {
  if (m.kind === 'text') {
    const at = m.at % token.length;
    return token.slice(0, at) + m.char + token.slice(at + 1);
  }
  const segments = decode(token).map((s) => new Uint8Array(s)) as Segments;
  if (m.kind === 'swap') {
    [segments[m.a], segments[m.b]] = [segments[m.b], segments[m.a]];
    return encode(segments);
  }
  const bytes = segments[m.segment];
  switch (m.kind) {
    case 'flip':
      if (bytes.length) bytes[m.at % bytes.length]! ^= m.mask;
      break;
    case 'truncate':
      segments[m.segment] = bytes.subarray(0, bytes.length ? m.keep % bytes.length : 0);
      break;
    case 'insert': {
      const at = m.at % (bytes.length + 1);
      segments[m.segment] = new Uint8Array([...bytes.subarray(0, at), m.byte, ...bytes.subarray(at)]);
      break;
    }
    case 'delete':
      if (bytes.length) segments[m.segment] = new Uint8Array([...bytes.subarray(0, m.at % bytes.length), ...bytes.subarray((m.at % bytes.length) + 1)]);
      break;
  }
  return encode(segments);
}

/** Whether the mutated token still means the same bytes (a no-op swap, or a base64url spelling of the same bytes). */
function sameBytes(a: string, b: string): boolean {
  try {
    const [x, y] = [decode(a), decode(b)];
    return x.every((seg, i) => Buffer.compare(Buffer.from(seg), Buffer.from(y[i]!)) === 0) && b.split('.').length === 3;
  } catch {
    return false;
  }
}

describe('mutated tokens', () => {
  it('the unmutated tokens are accepted (the property below is not vacuous)', async () => {
    for (const token of valid) expect((await predict(token)).status).toBe(200);
  });

  it('changing any byte of the header, payload or signature (or the compact form) never passes: 401 at the gateway', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(0, 1), fc.array(mutationArb, { minLength: 1, maxLength: 3 }), async (which, mutations) => {
        const original = valid[which]!;
        // Byte-level changes first, then changes to the compact text (which may leave it undecodable).
        const ordered = [...mutations.filter((m) => m.kind !== 'text'), ...mutations.filter((m) => m.kind === 'text')];
        const mutated = ordered.reduce(apply, original);
        // A swap of a segment with itself, or a character replaced by its own spelling, changes nothing.
        fc.pre(mutated !== original && !sameBytes(original, mutated));
        expectRefusedByAuthorizer(await predict(mutated), `${mutations.map((m) => m.kind).join('+')}: ${mutated.slice(0, 60)}…`);
      }),
      { seed: 20261125, numRuns: 300, endOnFailure: true },
    );
  });

  it('non-canonical base64url spellings of the same signature (the unused low bits of the last character): as API Gateway, accepted or refused, never another identity', async () => {
    // A 256-byte RSA signature is 342 base64url characters: the last carries 2 data bits and 4 unused ones.
    const [header, payload, signature] = valid[1]!.split('.') as [string, string, string];
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const last = alphabet.indexOf(signature.at(-1)!);
    const spellings = Array.from({ length: 16 }, (_, low) => alphabet[(last & ~0b1111) | low]!).filter((c) => c !== signature.at(-1));
    for (const c of spellings) {
      const res = await predict(`${header}.${payload}.${signature.slice(0, -1)}${c}`);
      expect([200, 401], res.text).toContain(res.status);
      if (res.status === 200) expect(res.json.user).toBe('admin');
    }
  });
});

// ---------------------------------------------------------------------------------------------------------
// Claims

interface ClaimCase {
  iss: 'ok' | 'slash' | 'other' | 'missing';
  aud: 'ok' | 'array' | 'other' | 'missing';
  exp: 'future' | 'past' | 'missing' | 'string';
  nbf: 'past' | 'future' | 'missing';
  iat: 'past' | 'future' | 'missing';
  scope: 'predict' | 'read' | 'none' | 'missing' | 'scp';
  kid: 'ok' | 'unknown' | 'missing';
  alg: 'RS256' | 'RS384' | 'RS512';
}

const claimCase: fc.Arbitrary<ClaimCase> = fc.record({
  iss: fc.constantFrom('ok', 'ok', 'slash', 'other', 'missing'),
  aud: fc.constantFrom('ok', 'ok', 'array', 'other', 'missing'),
  exp: fc.constantFrom('future', 'future', 'past', 'missing', 'string'),
  nbf: fc.constantFrom('past', 'missing', 'future'),
  iat: fc.constantFrom('past', 'missing', 'future'),
  scope: fc.constantFrom('predict', 'predict', 'read', 'none', 'missing', 'scp'),
  kid: fc.constantFrom('ok', 'ok', 'ok', 'unknown', 'missing'),
  alg: fc.constantFrom('RS256', 'RS256', 'RS384', 'RS512'),
});

function claimsOf(c: ClaimCase): JWTPayload {
  const now = nowSeconds();
  const hour = 3600;
  return claimsFor(t.url, {
    iss: { ok: t.url, slash: `${t.url}/`, other: 'https://issuer.example', missing: undefined }[c.iss],
    aud: { ok: audience, array: ['someone-else', audience], other: 'someone-else', missing: undefined }[c.aud],
    exp: { future: now + hour, past: now - hour, missing: undefined, string: String(now + hour) }[c.exp],
    nbf: { past: now - hour, future: now + hour, missing: undefined }[c.nbf],
    iat: { past: now - 60, future: now + hour, missing: undefined }[c.iat],
    scope: { predict: 'twin:read twin:predict', read: 'twin:read', none: '', missing: undefined, scp: undefined }[c.scope],
    ...(c.scope === 'scp' ? { scp: ['twin:predict'] } : {}),
  });
}

/**
 * The documented rule (docs/security.md): RSA, a kid in the JWKS, exact issuer and audience, a current
 * exp/nbf/iat — else 401; then one of the route's scopes (`scope` or `scp`) — else 403.
 * RS384/RS512 with the RS256 key: the JWKS names alg RS256, so the key does not match another algorithm.
 */
function expectedStatus(c: ClaimCase): number {
  const authentic =
    c.iss === 'ok' && (c.aud === 'ok' || c.aud === 'array') && c.exp === 'future' && c.nbf !== 'future' && c.iat !== 'future' && c.kid === 'ok' && c.alg === 'RS256';
  if (!authentic) return 401;
  return c.scope === 'predict' || c.scope === 'scp' ? 200 : 403;
}

describe('claims signed with the real key', () => {
  it('the authorizer decides exactly by the documented rule, for any combination of claims', async () => {
    await fc.assert(
      fc.asyncProperty(claimCase, async (c) => {
        const kid = { ok: signing.kid, unknown: 'unknown-kid', missing: undefined }[c.kid];
        const token = await signToken(claimsOf(c), keyFor[c.alg]!, { alg: c.alg, ...(kid ? { kid } : {}) });
        const res = await predict(token);
        const want = expectedStatus(c);
        expect(res.status, `${JSON.stringify(c)}: ${res.text}`).toBe(want);
        if (want === 401) expect(res.json).toEqual({ message: 'Unauthorized' });
        if (want === 403) expect(res.json).toEqual({ message: 'Forbidden' });
        if (want === 200) expect(res.json.user).toBe('admin');
      }),
      { seed: 1125, numRuns: 150, endOnFailure: true },
    );
  });
});
