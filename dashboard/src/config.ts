/**
 * Runtime configuration, fetched at start-up from `config.json` next to index.html. The DashboardStack writes
 * `{ "apiUrl": "https://..." }` at deploy time; the local twin serves `{}` (same origin). Nothing secret is
 * ever in it or in the bundle.
 */

export interface DashboardConfig {
  /** Base URL of the API without a trailing slash; '' means the page's own origin. */
  apiUrl: string;
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

const loopback = new Set(['127.0.0.1', 'localhost', '[::1]']);

/**
 * Validates a config.json body. `apiUrl` must be https (plain http only on loopback, for the local twin), have
 * no credentials, query or fragment. A wrong URL fails loudly: silently calling another origin would send
 * passwords there.
 */
export function parseDashboardConfig(raw: unknown): DashboardConfig {
  if (raw === undefined || raw === null) return { apiUrl: '' };
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError('config.json must be a JSON object');
  const apiUrl = (raw as Record<string, unknown>).apiUrl;
  if (apiUrl === undefined || apiUrl === '') return { apiUrl: '' };
  if (typeof apiUrl !== 'string') throw new ConfigError('config.json: apiUrl must be a string');
  let url: URL;
  try {
    url = new URL(apiUrl);
  } catch {
    throw new ConfigError(`config.json: apiUrl "${apiUrl}" is not a URL`);
  }
  const secure = url.protocol === 'https:' || (url.protocol === 'http:' && loopback.has(url.hostname));
  if (!secure) throw new ConfigError('config.json: apiUrl must use https');
  if (url.username || url.password || url.search || url.hash) {
    throw new ConfigError('config.json: apiUrl must not carry credentials, a query or a fragment');
  }
  return { apiUrl: `${url.origin}${url.pathname}`.replace(/\/+$/, '') };
}
