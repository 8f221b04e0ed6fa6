import { existsSync, readFileSync } from 'node:fs';
import { SourceMap, type SourceMapPayload } from 'node:module';
import { fileURLToPath } from 'node:url';

/**
 * Readable stack traces in the logs without `--enable-source-maps`. With that flag node reads and parses a
 * bundle's source map (1.5 MB for predict) while it compiles the bundle, on every cold start, whether or not
 * anything fails (docs/performance.md, "Cold start"). Here the map is read the first time an error is
 * logged, and only the frames in the bundle are rewritten to the TypeScript they came from.
 */

/** Rewrites the frames of `stack` that point into `bundleUrl` (`file:///var/task/index.mjs:line:column`) through `map`. */
export function mapStackTrace(stack: string, bundleUrl: string, map: Pick<SourceMap, 'findEntry'>): string {
  const frame = new RegExp(`${escapeRegExp(bundleUrl)}:(\\d+):(\\d+)`, 'g');
  return stack.replace(frame, (whole, line: string, column: string) => {
    const entry = map.findEntry(Number(line) - 1, Number(column) - 1) as { originalSource?: string; originalLine?: number; originalColumn?: number };
    if (entry.originalSource === undefined || entry.originalLine === undefined || entry.originalColumn === undefined) return whole;
    // Sources are relative to where the bundle was built (../../functions/...): the project path reads best.
    return `${entry.originalSource.replace(/^(\.\.\/)+/, '')}:${entry.originalLine + 1}:${entry.originalColumn + 1}`;
  });
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

let loaded: { bundleUrl: string; map: SourceMap } | null | undefined;

/** The running bundle's source map (`<this file>.map`), read once; null where there is none (sources, the bench). */
function bundleSourceMap(): { bundleUrl: string; map: SourceMap } | null {
  if (loaded !== undefined) return loaded;
  loaded = null;
  try {
    const bundleUrl = import.meta.url;
    const mapFile = `${fileURLToPath(bundleUrl)}.map`;
    if (bundleUrl.startsWith('file:') && existsSync(mapFile)) {
      loaded = { bundleUrl, map: new SourceMap(JSON.parse(readFileSync(mapFile, 'utf8')) as SourceMapPayload) };
    }
  } catch {
    // An unreadable map leaves the stacks as they are.
  }
  return loaded;
}

/** `error` with its stack mapped to the sources when this code runs from a bundle with its map; else `error`. */
export function withSourceMappedStack<E extends Error>(error: E): E {
  const source = typeof error.stack === 'string' ? bundleSourceMap() : null;
  if (!source) return error;
  // A copy: the error itself may still be thrown on or inspected elsewhere.
  const copy = Object.assign(Object.create(Object.getPrototypeOf(error) as object) as E, error);
  Object.defineProperty(copy, 'message', { value: error.message, writable: true, configurable: true });
  Object.defineProperty(copy, 'stack', { value: mapStackTrace(error.stack!, source.bundleUrl, source.map), writable: true, configurable: true });
  if ('cause' in error) Object.defineProperty(copy, 'cause', { value: error.cause instanceof Error ? withSourceMappedStack(error.cause) : error.cause, writable: true, configurable: true });
  return copy;
}
