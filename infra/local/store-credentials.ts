import { randomBytes } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as z from 'zod';
import type { StoreCredentials } from './sigv4-gate.mjs';

const credentialsSchema = z.strictObject({ accessKeyId: z.string().regex(/^[A-Z0-9]{16,128}$/), secretAccessKey: z.string().min(32).max(128) });

/** `<dataDir>/store-credentials.json`: the key pair only the twin and its functions know. */
export function storeCredentialsPath(dataDir: string): string {
  return join(dataDir, 'store-credentials.json');
}

/**
 * The local stores' credentials: read from the data dir, or generated there (mode 0600) on first start. The
 * functions get them through AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, which the SDK reads itself.
 */
export async function ensureStoreCredentials(dataDir: string): Promise<StoreCredentials> {
  const path = storeCredentialsPath(dataDir);
  try {
    return credentialsSchema.parse(JSON.parse(await readFile(path, 'utf8')));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`${path} is unreadable or invalid: delete it to generate new store credentials`, { cause: error });
  }
  const credentials = { accessKeyId: `TWIN${randomBytes(10).toString('hex').toUpperCase()}`, secretAccessKey: randomBytes(30).toString('base64url') };
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(credentials, null, 2)}\n`, { mode: 0o600 });
  await rename(tmp, path);
  return credentials;
}
