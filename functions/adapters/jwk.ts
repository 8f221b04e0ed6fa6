import { createPublicKey } from 'node:crypto';
import type { JWK } from 'jose';

/** The public half of an RSA key as a JWKS entry for RS256 signatures. */
export function publicJwk(jwk: JWK, kid: string): JWK {
  return { kty: jwk.kty, n: jwk.n, e: jwk.e, kid, alg: 'RS256', use: 'sig' } as JWK;
}

/** A DER SubjectPublicKeyInfo (what KMS GetPublicKey returns) as a JWKS entry. */
export function publicJwkFromSpki(der: Uint8Array, kid: string): JWK {
  const jwk = createPublicKey({ key: Buffer.from(der), format: 'der', type: 'spki' }).export({ format: 'jwk' }) as JWK;
  return publicJwk(jwk, kid);
}
