import { chmod, mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DataDirError, defaultDataDir, isInside, prepareDataDir } from '../../infra/local/data-dir.js';

/** Issue 13, finding 1: where the local twin keeps its signing key and data, and who may reach them. */

let root: string;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'twinserve-datadir-'));
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('defaultDataDir', () => {
  it('is ~/.local/share/twinserve, never a path under the working directory', () => {
    expect(defaultDataDir({}, '/home/ada')).toBe('/home/ada/.local/share/twinserve');
  });

  it('honours an absolute XDG_DATA_HOME and ignores a relative one (XDG Base Directory)', () => {
    expect(defaultDataDir({ XDG_DATA_HOME: '/srv/xdg' }, '/home/ada')).toBe('/srv/xdg/twinserve');
    expect(defaultDataDir({ XDG_DATA_HOME: 'rel/xdg' }, '/home/ada')).toBe('/home/ada/.local/share/twinserve');
  });

  it('honours TWIN_DATA_DIR first', () => {
    expect(defaultDataDir({ TWIN_DATA_DIR: '/var/lib/twin', XDG_DATA_HOME: '/srv/xdg' }, '/home/ada')).toBe('/var/lib/twin');
  });
});

describe('prepareDataDir', () => {
  it('creates the dir 0700 (whatever the umask)', async () => {
    const old = process.umask(0);
    try {
      const dir = await prepareDataDir(join(root, 'a', 'twinserve'), { cwd: '/nonexistent-cwd' });
      expect((await stat(dir)).mode & 0o777).toBe(0o700);
    } finally {
      process.umask(old);
    }
  });

  it('accepts an existing 0700 dir', async () => {
    const dir = join(root, 'ok');
    await mkdir(dir, { mode: 0o700 });
    await expect(prepareDataDir(dir, { cwd: '/nonexistent-cwd' })).resolves.toBe(dir);
  });

  it.each([0o755, 0o750, 0o701, 0o707])('refuses an existing dir with mode %o, saying how to fix it', async (mode) => {
    const dir = join(root, 'loose');
    await mkdir(dir);
    await chmod(dir, mode);
    const refused = prepareDataDir(dir, { cwd: '/nonexistent-cwd' });
    await expect(refused).rejects.toBeInstanceOf(DataDirError);
    await expect(refused).rejects.toThrow(`Run: chmod 700 ${dir}`);
  });

  it.each(['signing-keys.json', 'store-credentials.json'])('refuses a %s that others can read', async (name) => {
    const dir = join(root, 'keys');
    await mkdir(dir, { mode: 0o700 });
    await writeFile(join(dir, name), '{}', { mode: 0o644 });
    await chmod(join(dir, name), 0o644);
    await expect(prepareDataDir(dir, { cwd: '/nonexistent-cwd' })).rejects.toThrow(`Run: chmod 600 ${join(dir, name)}`);
  });

  it('refuses a dir inside the working directory (relative paths reach it) and creates nothing', async () => {
    const dir = join(root, 'work', '.data');
    await expect(prepareDataDir(dir, { cwd: join(root, 'work') })).rejects.toThrow('inside the working directory');
    await expect(stat(dir)).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(prepareDataDir(join(root, 'work'), { cwd: join(root, 'work') })).rejects.toBeInstanceOf(DataDirError);
  });

  it('refuses a path that is not a directory', async () => {
    await writeFile(join(root, 'file'), '');
    await expect(prepareDataDir(join(root, 'file'), { cwd: '/nonexistent-cwd' })).rejects.toThrow('not a directory');
  });
});

describe('isInside', () => {
  it.each([
    ['/a/b', '/a', true],
    ['/a', '/a', true],
    ['/ab', '/a', false],
    ['/a/../b', '/a', false],
    ['/b', '/a', false],
  ])('%s inside %s: %s', (path, dir, inside) => {
    expect(isInside(path, dir)).toBe(inside);
  });
});
