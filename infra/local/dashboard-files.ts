import { lstat, readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join } from 'node:path';
import { contentSecurityPolicy, dashboardCacheControl, dashboardSecurityHeaders } from '../dashboard-security.js';

/**
 * Serves the built dashboard (`npm run build:dashboard` -> dashboard/dist) from the local gateway's fallback:
 * `GET /` (index.html), `GET /assets/<file>` and `GET /config.json`. Anything else is left to the gateway,
 * which answers API Gateway's 404.
 *
 * Paths are matched against a whitelist, never joined from user input: an asset name is one path segment of
 * safe characters, so `..`, encoded slashes and absolute paths cannot reach outside dist/assets. Symlinks are
 * not followed.
 */

export interface DashboardFilesOptions {
  /** The Vite build output: index.html and assets/. */
  dir: string;
  /**
   * Served as /config.json. In AWS the DashboardStack writes `{ apiUrl }`; locally the API is same-origin.
   * @default {}
   */
  config?: Record<string, unknown>;
}

const contentTypes: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

/** One path segment, as Vite names its output (`index-Cx3k9.js`); no dot files. */
const assetName = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,200}$/;

function securityHeaders(): Record<string, string> {
  return { 'content-security-policy': contentSecurityPolicy(), ...dashboardSecurityHeaders };
}

function send(res: ServerResponse, status: number, contentType: string, body: string | Buffer, cacheControl: string): void {
  const buffer = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  res.writeHead(status, {
    'content-type': contentType,
    'content-length': String(buffer.length),
    'cache-control': cacheControl,
    ...securityHeaders(),
  });
  res.end(buffer);
}

function notFound(res: ServerResponse): void {
  send(res, 404, 'application/json', JSON.stringify({ message: 'Not Found' }), 'no-store');
}

const notBuiltPage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Twinserve dashboard not built</title></head>
<body><h1>The dashboard is not built</h1>
<p>Run <code>npm run build:dashboard</code> (or <code>npm start</code>, which builds it first) and reload.</p>
<p>The API is running: try <a href="/health">/health</a>.</p></body></html>
`;

async function serveFile(res: ServerResponse, path: string, cacheControl: string, missing: () => void): Promise<void> {
  const type = contentTypes[extname(path).toLowerCase()];
  if (!type) return missing();
  try {
    const info = await lstat(path);
    if (!info.isFile()) return missing();
    send(res, 200, type, await readFile(path), cacheControl);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'ENOTDIR') return missing();
    throw error;
  }
}

/** The gateway fallback. Returns true when it has taken the request (it then always answers). */
export function createDashboardFiles(options: DashboardFilesOptions): (req: IncomingMessage, res: ServerResponse) => boolean {
  const config = JSON.stringify(options.config ?? {});
  return (req, res) => {
    if ((req.method ?? 'GET').toUpperCase() !== 'GET') return false;
    // The raw, still-encoded path: `%2e%2e` or `%2f` never turn into separators here.
    const path = (req.url ?? '/').split('?')[0]!;
    let handled: Promise<void>;
    if (path === '/' || path === '/index.html') {
      handled = serveFile(res, join(options.dir, 'index.html'), dashboardCacheControl.revalidate, () =>
        send(res, 503, 'text/html; charset=utf-8', notBuiltPage, 'no-store'),
      );
    } else if (path === '/config.json') {
      send(res, 200, contentTypes['.json']!, config, dashboardCacheControl.revalidate);
      return true;
    } else if (path.startsWith('/assets/')) {
      const name = path.slice('/assets/'.length);
      if (!assetName.test(name)) {
        notFound(res);
        return true;
      }
      handled = serveFile(res, join(options.dir, 'assets', name), dashboardCacheControl.immutable, () => notFound(res));
    } else {
      return false;
    }
    handled.catch((error: unknown) => {
      process.stderr.write(`${JSON.stringify({ level: 'ERROR', message: 'dashboard file failed', path, error: String(error) })}\n`);
      if (!res.headersSent) send(res, 500, 'application/json', JSON.stringify({ message: 'Internal Server Error' }), 'no-store');
      else res.destroy();
    });
    return true;
  };
}
