import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { build } from 'vite';
import { repoRoot } from '../../infra/local/twin.js';

/**
 * Browser-test helpers: Debian's chromium (`apt-get install -y chromium`, as .ci/run does) driven by
 * playwright-core (never `npx playwright install`), and a fresh Vite build of the dashboard per run.
 */

export const chromiumPath = '/usr/bin/chromium';

export const chromiumArgs = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/** playwright-core gives each launch a fresh temporary profile (user-data-dir) and removes it on close. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: chromiumPath, args: chromiumArgs });
}

/** The viewport of the README's screenshots. */
export const viewport = { width: 1280, height: 800 };

/**
 * A page in its own context (own storage, no shared session), with stable locale and time zone for the
 * screenshots. Everything that would mean the page broke its own rules lands in `problems`: script errors,
 * CSP and Trusted Types refusals.
 */
export async function newWatchedPage(browser: Browser, problems: string[]): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport, locale: 'en-US', timezoneId: 'UTC', reducedMotion: 'reduce' });
  context.setDefaultTimeout(15_000);
  const page = await context.newPage();
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (/Content Security Policy|Trusted ?(HTML|Script|Type)/i.test(message.text())) problems.push(`console: ${message.text()}`);
  });
  return { context, page };
}

/** Builds dashboard/ into `outDir` with its own vite.config.ts. */
export async function buildDashboard(outDir: string): Promise<void> {
  await build({ root: join(repoRoot, 'dashboard'), logLevel: 'warn', build: { outDir, emptyOutDir: true } });
}

export interface BundleFile {
  name: string;
  bytes: number;
  gzipBytes: number;
  text: string;
}

/** The built files under assets/, with raw and gzip sizes. */
export async function bundleFiles(outDir: string): Promise<BundleFile[]> {
  const dir = join(outDir, 'assets');
  const names = await readdir(dir);
  return Promise.all(
    names.map(async (name) => {
      const data = await readFile(join(dir, name));
      return { name, bytes: data.length, gzipBytes: gzipSync(data, { level: 9 }).length, text: data.toString('utf8') };
    }),
  );
}
