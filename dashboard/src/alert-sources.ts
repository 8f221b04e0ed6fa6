import { normalizeServerAlert, type AlertFeed } from './alerts.js';
import type { ApiClient } from './api.js';
import { ApiError } from './errors.js';
import { heldBackFromList, heldBackFromNotice, type HeldBackFeed } from './held-back.js';
import { createSseParser } from './sse.js';

/**
 * Server-side alerts into the same feed as the browser-derived ones. Tried in order, each degrading quietly
 * when the API does not have it (404/405/501):
 *  1. `GET /api/v1/alerts/stream`, server-sent events (the local twin's SNS sink), read with fetch so the
 *     token travels in the Authorization header; reconnects with backoff while the API has the route;
 *  2. `GET /api/v1/alerts?model=<name>`, polled every 10 s (in AWS, where API Gateway HTTP APIs cannot hold
 *     a stream open); items are deduplicated by id in the feed;
 *  3. neither: the feed shows only alerts derived in this browser.
 * The alert cap's held-back windows (./held-back.ts) come with them: the list's `held_back`, read at start and
 * with every poll (and after each cap notice the stream brings), and the stream's notices themselves.
 */

export type ServerAlertsState = 'connecting' | 'stream' | 'polling' | 'unavailable';

export const alertStreamPath = '/api/v1/alerts/stream';
export const alertListPath = '/api/v1/alerts';

const absent = new Set([404, 405, 501]);

export interface ServerAlertsOptions {
  /** The model whose alerts to poll (the API's default model when absent). */
  model?: string;
  pollIntervalMs?: number;
  onState?: (state: ServerAlertsState) => void;
  /** Where the alert cap's held-back windows go (from the list's `held_back` and the stream's cap notices). */
  heldBack?: HeldBackFeed;
}

function wait(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

function alertItems(body: unknown): unknown[] {
  if (Array.isArray(body)) return body;
  if (typeof body === 'object' && body !== null) {
    const record = body as Record<string, unknown>;
    for (const key of ['alerts', 'items']) if (Array.isArray(record[key])) return record[key] as unknown[];
  }
  return [];
}

/** Starts the server sources; returns a stop function. */
export function startServerAlerts(api: ApiClient, feed: AlertFeed, options: ServerAlertsOptions = {}): () => void {
  const controller = new AbortController();
  const { signal } = controller;
  const setState = (state: ServerAlertsState) => {
    if (!signal.aborted) options.onState?.(state);
  };

  /** Resolves 'absent' when the API has no stream route, 'stopped' when signed out or refused. */
  const stream = async (): Promise<'absent' | 'stopped'> => {
    let backoffMs = 1_000;
    let everConnected = false;
    while (!signal.aborted) {
      try {
        const response = await api.raw('GET', alertStreamPath, { signal, accept: 'text/event-stream' });
        if (absent.has(response.status)) return everConnected ? 'stopped' : 'absent';
        if (response.status === 401 || response.status === 403) {
          await response.body?.cancel();
          return everConnected ? 'stopped' : 'absent';
        }
        const type = response.headers.get('content-type') ?? '';
        if (response.ok && response.body && type.startsWith('text/event-stream')) {
          everConnected = true;
          backoffMs = 1_000;
          setState('stream');
          const parse = createSseParser((event) => {
            if (event.event !== 'alert' && event.event !== 'message') return;
            try {
              const data: unknown = JSON.parse(event.data);
              const notice = heldBackFromNotice(data);
              if (notice) {
                // A cap notice: drawn at once; the list then says how many were held back so far.
                options.heldBack?.merge([notice]);
                void refreshHeldBack();
                return;
              }
              const alert = normalizeServerAlert(data);
              // The stream carries every model's alerts; this feed is one model's.
              if (alert && (!options.model || !alert.model || alert.model === options.model)) feed.add(alert);
            } catch {
              // A malformed event is skipped; the stream goes on.
            }
          });
          const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            parse(value);
          }
        } else {
          await response.body?.cancel();
          if (!everConnected) return 'absent';
        }
      } catch {
        if (signal.aborted) return 'stopped';
        // Network trouble: the health check reports offline; keep trying quietly.
      }
      setState('connecting');
      await wait(backoffMs, signal);
      backoffMs = Math.min(backoffMs * 2, 30_000);
    }
    return 'stopped';
  };

  const poll = async (): Promise<void> => {
    let polling = false;
    while (!signal.aborted) {
      try {
        const body = await api.get<unknown>(alertListPath, { signal, query: { model: options.model, limit: 50 } });
        if (!polling) {
          polling = true;
          setState('polling');
        }
        const windows = heldBackFromList(body);
        if (windows) options.heldBack?.merge(windows);
        for (const raw of alertItems(body)) {
          const alert = normalizeServerAlert(raw);
          if (alert) feed.add(alert);
        }
      } catch (error) {
        if (signal.aborted) return;
        if (error instanceof ApiError && (absent.has(error.status) || error.status === 403)) {
          setState('unavailable');
          return;
        }
      }
      await wait(options.pollIntervalMs ?? 10_000, signal);
    }
  };

  /** The held-back counts from the list (one alert asked for): at start, and after each cap notice of the stream. */
  const refreshHeldBack = async (): Promise<void> => {
    if (!options.heldBack) return;
    try {
      const windows = heldBackFromList(await api.get<unknown>(alertListPath, { signal, query: { model: options.model, limit: 1 } }));
      if (windows) options.heldBack.merge(windows);
    } catch {
      // The list is not there (or not now): the stream's notices still draw.
    }
  };

  setState('connecting');
  void refreshHeldBack();
  void stream().then((outcome) => (outcome === 'absent' ? poll() : undefined));
  return () => controller.abort();
}
