import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import * as z from 'zod';

/**
 * The CLI's config file: named profiles, each with the API's URL and the token `twin login` got.
 * `$TWIN_CONFIG`, else `$XDG_CONFIG_HOME/twinserve/config.json`, else `~/.config/twinserve/config.json`.
 * Written atomically with mode 0600 (a token is a credential) in a 0700 directory.
 */

export const profileSchema = z.object({
  url: z.string(),
  token: z.string().optional(),
  /** ISO time the token expires. */
  expires_at: z.string().optional(),
  /** Who logged in: a username, or `key:<id>` for an API key. */
  principal: z.string().optional(),
  scope: z.string().optional(),
});
export type Profile = z.infer<typeof profileSchema>;

const configSchema = z.object({ profiles: z.record(z.string(), profileSchema).default({}) });
export type ConfigFile = z.infer<typeof configSchema>;

export function configPath(env: Record<string, string | undefined>): string {
  if (env.TWIN_CONFIG) return env.TWIN_CONFIG;
  const base = env.XDG_CONFIG_HOME || join(env.HOME || homedir(), '.config');
  return join(base, 'twinserve', 'config.json');
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export async function readConfig(path: string): Promise<ConfigFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { profiles: {} };
    throw error;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ConfigError(`${path} is not valid JSON; fix or delete it`);
  }
  const parsed = configSchema.safeParse(json);
  if (!parsed.success) throw new ConfigError(`${path} is not a twin config file: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  return parsed.data;
}

export async function writeConfig(path: string, config: ConfigFile): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  // writeFile's mode applies only when it creates the file; make sure, then swap atomically.
  await chmod(tmp, 0o600);
  await rename(tmp, path);
}

/** Reads, changes one profile (or removes it with `undefined`), writes. */
export async function updateProfile(path: string, name: string, change: (current: Profile | undefined) => Profile | undefined): Promise<void> {
  const config = await readConfig(path);
  const next = change(config.profiles[name]);
  if (next === undefined) delete config.profiles[name];
  else config.profiles[name] = next;
  await writeConfig(path, config);
}
