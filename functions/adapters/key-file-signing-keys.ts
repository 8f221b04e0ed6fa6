import { createPrivateKey, generateKeyPairSync, randomUUID, sign, type KeyObject } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { JWK } from 'jose';
import * as z from 'zod';
import type { TokenSigner } from '../core/auth/tokens.js';
import { publicJwk } from './jwk.js';

const keyFileSchema = z.object({
  keys: z
    .array(z.object({ kid: z.string().min(1), created: z.string(), privateJwk: z.record(z.string(), z.unknown()) }))
    .min(1),
});
type KeyFile = z.infer<typeof keyFileSchema>;

/**
 * RS256 signing keys kept in a JSON file (mode 0600): the first key signs, every key listed is published in
 * the JWKS. Used by the local twin and the edge box; in AWS, {@link KmsTokenSigner} takes its place.
 */
export class KeyFileTokenSigner implements TokenSigner {
  private loaded: Promise<{ kid: string; privateKey: KeyObject; jwks: { keys: JWK[] } }> | undefined;

  constructor(private readonly path: string) {}

  private load() {
    this.loaded ??= (async () => {
      const file = keyFileSchema.parse(JSON.parse(await readFile(this.path, 'utf8')));
      const first = file.keys[0]!;
      const privateKey = createPrivateKey({ key: first.privateJwk as JWK & { kty: string }, format: 'jwk' });
      const jwks = { keys: file.keys.map((k) => publicJwk(k.privateJwk as JWK, k.kid)) };
      return { kid: first.kid, privateKey, jwks };
    })();
    this.loaded.catch(() => (this.loaded = undefined));
    return this.loaded;
  }

  async keyId() {
    return (await this.load()).kid;
  }

  async sign(signingInput: Uint8Array) {
    return new Uint8Array(sign('sha256', signingInput, (await this.load()).privateKey));
  }

  async jwks() {
    return (await this.load()).jwks;
  }
}

function newKey(): KeyFile['keys'][number] {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { kid: randomUUID(), created: new Date().toISOString(), privateJwk: privateKey.export({ format: 'jwk' }) as Record<string, unknown> };
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
  await writeKeyFile(path, { keys: [newKey()] });
  return true;
}

/**
 * Puts a new signing key first and keeps `keep` previous keys published, so tokens signed before the
 * rotation verify until they expire. Running processes pick the new key up on restart.
 */
export async function rotateKeyFile(path: string, keep = 1): Promise<string> {
  const file = keyFileSchema.parse(JSON.parse(await readFile(path, 'utf8')));
  const key = newKey();
  await writeKeyFile(path, { keys: [key, ...file.keys.slice(0, keep)] });
  return key.kid;
}
