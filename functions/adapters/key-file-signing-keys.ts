import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';
import { z } from 'zod';
import type { SigningKeys } from '../core/auth/tokens.js';

const keyFileSchema = z.object({
  keys: z
    .array(z.object({ kid: z.string().min(1), created: z.string(), privateJwk: z.record(z.string(), z.unknown()) }))
    .min(1),
});
type KeyFile = z.infer<typeof keyFileSchema>;

/**
 * RS256 signing keys kept in a JSON file (mode 0600): the first key signs, every key listed is published in
 * the JWKS so tokens signed before a rotation stay valid until they expire. Used by the local twin and the
 * edge box; see docs/security.md for the AWS side.
 */
export class KeyFileSigningKeys implements SigningKeys {
  private loaded: Promise<{ kid: string; privateKey: CryptoKey; jwks: { keys: JWK[] } }> | undefined;

  constructor(private readonly path: string) {}

  private load() {
    this.loaded ??= (async () => {
      const file = keyFileSchema.parse(JSON.parse(await readFile(this.path, 'utf8')));
      const first = file.keys[0]!;
      const privateKey = (await importJWK(first.privateJwk as JWK, 'RS256')) as CryptoKey;
      const jwks = { keys: file.keys.map((k) => publicJwk(k.privateJwk as JWK, k.kid)) };
      return { kid: first.kid, privateKey, jwks };
    })();
    this.loaded.catch(() => (this.loaded = undefined));
    return this.loaded;
  }

  async current() {
    const { kid, privateKey } = await this.load();
    return { kid, privateKey };
  }

  async jwks() {
    return (await this.load()).jwks;
  }
}

function publicJwk(jwk: JWK, kid: string): JWK {
  const { kty, n, e } = jwk;
  return { kty, n, e, kid, alg: 'RS256', use: 'sig' } as JWK;
}

async function newKey(): Promise<KeyFile['keys'][number]> {
  const { privateKey } = await generateKeyPair('RS256', { modulusLength: 2048, extractable: true });
  return { kid: randomUUID(), created: new Date().toISOString(), privateJwk: (await exportJWK(privateKey)) as Record<string, unknown> };
}

async function writeKeyFile(path: string, file: KeyFile): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600 });
  await rename(tmp, path);
}

/** Creates the key file with one key when it does not exist. Returns whether it created one. */
export async function ensureKeyFile(path: string): Promise<boolean> {
  try {
    keyFileSchema.parse(JSON.parse(await readFile(path, 'utf8')));
    return false;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  await writeKeyFile(path, { keys: [await newKey()] });
  return true;
}

/** Puts a new signing key first and keeps `keep` previous keys published for verification. */
export async function rotateKeyFile(path: string, keep = 1): Promise<string> {
  const file = keyFileSchema.parse(JSON.parse(await readFile(path, 'utf8')));
  const key = await newKey();
  await writeKeyFile(path, { keys: [key, ...file.keys.slice(0, keep)] });
  return key.kid;
}
