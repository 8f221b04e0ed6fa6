import { chmod, mkdir, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { isAbsolute, join, relative, resolve } from 'node:path';

/**
 * The local twin's data dir: the signing key, the store credentials, DynamoDB and S3 files, alerts. Anyone
 * who reads it can mint tokens and read password hashes, so it lives outside the working directory by
 * default (onnxruntime resolves a model's relative external-data paths from the working directory, and a
 * checkout's `.data` is one `git add -f` from a repository) and is private to its owner (0700).
 */

export class DataDirError extends Error {}

/**
 * `TWIN_DATA_DIR` when set, else `$XDG_DATA_HOME/twinserve` (XDG Base Directory: an absolute path only),
 * else `~/.local/share/twinserve`.
 */
export function defaultDataDir(env: NodeJS.ProcessEnv = process.env, home: string = homedir()): string {
  if (env.TWIN_DATA_DIR) return resolve(env.TWIN_DATA_DIR);
  const xdg = env.XDG_DATA_HOME;
  return join(xdg && isAbsolute(xdg) ? xdg : join(home, '.local', 'share'), 'twinserve');
}

/** True when `path` is `dir` or lies below it. */
export function isInside(path: string, dir: string): boolean {
  const rel = relative(resolve(dir), resolve(path));
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/**
 * Creates the data dir (0700) or checks the existing one: it must be a directory owned by this user with no
 * group or other permission bits, and must not lie inside the working directory `cwd`. Refuses otherwise,
 * with what to do; nothing is started on a dir that others can read.
 */
export async function prepareDataDir(dir: string, options: { cwd?: string } = {}): Promise<string> {
  const path = resolve(dir);
  const cwd = options.cwd ?? process.cwd();
  if (isInside(path, cwd)) {
    throw new DataDirError(
      `The data dir ${path} is inside the working directory ${cwd}; files there are reachable by relative paths. ` +
        `Choose one outside it (TWIN_DATA_DIR), e.g. the default ${defaultDataDir({})}.`,
    );
  }
  const existing = await stat(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
  if (!existing) {
    await mkdir(path, { recursive: true, mode: 0o700 });
    // mkdir's mode is filtered by the umask, which can only remove bits; make it exact anyway.
    await chmod(path, 0o700);
    return path;
  }
  if (!existing.isDirectory()) throw new DataDirError(`The data dir ${path} is not a directory.`);
  if (typeof process.getuid === 'function' && existing.uid !== process.getuid()) {
    throw new DataDirError(`The data dir ${path} belongs to uid ${existing.uid}, not to this user (uid ${process.getuid()}): refusing to use it.`);
  }
  if ((existing.mode & 0o077) !== 0) {
    throw new DataDirError(`The data dir ${path} is accessible to other users (mode ${mode(existing.mode)}); it holds the signing key. Run: chmod 700 ${path}`);
  }
  for (const name of secretFiles) {
    const file = join(path, name);
    const info = await stat(file).catch(() => undefined);
    if (info && (info.mode & 0o077) !== 0) throw new DataDirError(`${file} is accessible to other users (mode ${mode(info.mode)}). Run: chmod 600 ${file}`);
  }
  return path;
}

/** The data dir's secrets, each written 0600. */
export const secretFiles = ['signing-keys.json', 'store-credentials.json'] as const;

function mode(m: number): string {
  return (m & 0o777).toString(8).padStart(4, '0');
}
