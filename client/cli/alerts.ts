/** `twin alerts tail`: the latest alerts, and new ones as they come. */
import { open, readFile, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Command } from 'commander';
import { CliError, exitCodes, positiveInt, type CliContext, type CliIo } from './context.js';
import { formatNumber } from './format.js';
import { TwinApiError, type AlertEvent, type AlertsResponse, type TwinClient } from '../sdk.js';

export function registerAlerts(program: Command, ctx: CliContext): void {
  const { io, authed, isJson } = ctx;

  const alerts = program.command('alerts').description('anomaly alerts');
  alerts
    .command('tail')
    .description('the latest alerts; --follow prints new ones as they come (the local SNS sink stream, else polling)')
    .option('--model <name>', 'whose alerts (default: the served model)')
    .option('-n, --lines <n>', 'how many of the latest to show', positiveInt('--lines', 200), 10)
    .option('-f, --follow', 'keep printing new alerts (Ctrl-C stops)')
    .option('--file <alerts.jsonl>', "read the local twin's SNS sink file (<data dir>/alerts.jsonl) instead of the API")
    .option('--interval <seconds>', 'polling interval with --follow where there is no stream', positiveInt('--interval', 3600), 5)
    .action(async (opts: { model?: string; lines: number; follow?: boolean; file?: string; interval: number }, cmd: Command) => {
      const json = isJson(cmd);
      const print = (event: AlertEvent | Record<string, unknown>) => io.stdout(json ? `${JSON.stringify(event)}\n` : alertLine(event));
      if (opts.file) {
        await tailFile(resolve(io.cwd, opts.file), opts.lines, opts.follow ?? false, (m) => print(alertOf(m)), io.signal);
        return;
      }
      const client = await authed(cmd);
      const listing = await client.alerts({ ...(opts.model ? { model: opts.model } : {}), limit: opts.lines });
      const recent = listing.alerts;
      const seen = new Set<string>();
      for (const event of [...recent].reverse()) {
        seen.add(event.id);
        print(event);
      }
      // What the plant's alert cap held back (the JSON lines stay alert events only: `twin alerts tail --json`).
      if (!json) for (const line of heldBackLines(listing.held_back)) io.stdout(line);
      if (!opts.follow) return;
      const streamed = await followStream(client, io, (m) => {
        const event = alertOf(m);
        if (opts.model && event.model !== opts.model) return;
        if (typeof event.id === 'string') {
          if (seen.has(event.id)) return;
          seen.add(event.id);
        }
        print(event);
      });
      if (streamed) return;
      // No stream (a cloud deployment): poll the history.
      while (!io.signal?.aborted) {
        await abortableSleep(opts.interval * 1000, io.signal);
        if (io.signal?.aborted) break;
        const page = (await client.alerts({ ...(opts.model ? { model: opts.model } : {}), limit: 50 })).alerts;
        for (const event of [...page].reverse()) {
          if (seen.has(event.id)) continue;
          seen.add(event.id);
          print(event);
        }
      }
    });
}


/** An alert event from the API, the SNS sink's message ({message: {type, ...event}}), or a line of alerts.jsonl. */
function alertOf(m: unknown): Record<string, unknown> {
  const record = (typeof m === 'object' && m !== null ? m : {}) as Record<string, unknown>;
  const inner = record.message;
  return typeof inner === 'object' && inner !== null ? (inner as Record<string, unknown>) : record;
}

function alertLine(event: Record<string, unknown>): string {
  const interval = Array.isArray(event.interval) ? ` [${(event.interval as number[]).map(formatNumber).join(', ')}]` : '';
  const prediction = typeof event.prediction === 'number' ? formatNumber(event.prediction) : '-';
  const thresholds = event.thresholds as { min?: number; max?: number } | undefined;
  return `${String(event.time ?? '').replace('T', ' ').slice(0, 19)}  ${String(event.kind === 'resolved' ? 'RESOLVED' : String(event.severity ?? '').toUpperCase()).padEnd(8)}  ${event.model}@${event.version}  ${event.rule}  prediction ${prediction}${interval}${thresholds ? ` (band ${thresholds.min}..${thresholds.max})` : ''}  ${event.principal ?? ''}${event.plant ? `/${event.plant}` : ''}\n`;
}

type HeldBack = AlertsResponse['held_back'];

/**
 * One line per window in which the alert cap held alerts back, oldest first, after the alerts: "HELD BACK
 * 3 alerts in the 15 min from 2026-12-03 10:00 (plant north; cap 2 per window, 2 sent; reactor-yield)".
 */
export function heldBackLines(heldBack: HeldBack): string[] {
  if (heldBack === null) return [];
  const minutes = heldBack.window_seconds / 60;
  return [...heldBack.windows].reverse().map((w) => {
    const span = `${Number.isInteger(minutes) ? `${minutes} min` : `${heldBack.window_seconds} s`} from ${w.start.replace('T', ' ').slice(0, 16)}${w.current ? ' (this window)' : ''}`;
    const where = w.plant === null ? 'platform principals' : `plant ${w.plant}`;
    return `HELD BACK  ${w.held} alert${w.held === 1 ? '' : 's'} in the ${span} (${where}; cap ${w.cap} per window, ${w.sent} sent${w.models.length > 0 ? `; ${w.models.join(', ')}` : ''})\n`;
  });
}

function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((done) => {
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      done();
    });
  });
}

/** The local twin's server-sent alert stream; false when the deployment has none (404). Returns when aborted. */
/** How many recent alerts the stream replays on connecting (the server's maximum is 100). */
const streamReplay = 50;

async function followStream(client: TwinClient, io: CliIo, onMessage: (m: unknown) => void): Promise<boolean> {
  const token = client.token?.token;
  const controller = new AbortController();
  io.signal?.addEventListener('abort', () => controller.abort());
  let response: Response;
  try {
    // The stream replays recent alerts: an alert raised between the listing above and this connection is not
    // lost (the caller drops the ones it printed already, by id).
    response = await fetch(`${client.baseUrl}/api/v1/alerts/stream?replay=${streamReplay}`, {
      headers: { accept: 'text/event-stream', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      signal: controller.signal,
    });
  } catch (error) {
    if (io.signal?.aborted) return true;
    throw new TwinApiError('NETWORK_ERROR', `alert stream: ${(error as Error).message}`, 0, undefined);
  }
  if (response.status === 404) return false;
  if (!response.ok || !response.body) throw new TwinApiError(response.status === 401 ? 'UNAUTHORIZED' : 'HTTP_ERROR', `alert stream answered ${response.status}`, response.status, undefined);
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const frame = streamFrame(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
        if (frame?.event === 'alert') onMessage(frame.data);
        // The server ended the stream (the token expired, the principal was deactivated, its key revoked): said,
        // not printed as an alert, and not a quiet exit 0.
        if (frame?.event === 'closed') {
          const { code, message } = (frame.data ?? {}) as { code?: unknown; message?: unknown };
          const status = code === 'FORBIDDEN' ? 403 : 401;
          throw new TwinApiError(typeof code === 'string' ? code : 'STREAM_CLOSED', `the alert stream was closed by the server: ${typeof message === 'string' ? message : 'no reason given'}`, status, undefined);
        }
      }
    }
  } catch (error) {
    if (!controller.signal.aborted) throw error;
  }
  return true;
}

/**
 * One server-sent event of the alert stream: its `event` name (`message` when none) and its data as JSON;
 * undefined for a comment (keep-alive) or data that is not JSON. Only `alert` events are alerts; `closed` says why
 * the server ended the stream.
 */
export function streamFrame(frame: string): { event: string; data: unknown } | undefined {
  let event = 'message';
  const data: string[] = [];
  for (const line of frame.split('\n')) {
    if (line.startsWith('event:')) event = line.slice(6).trim();
    else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
  }
  if (data.length === 0) return undefined;
  try {
    return { event, data: JSON.parse(data.join('\n')) as unknown };
  } catch {
    return undefined;
  }
}

/** The last `count` lines of a JSON-lines file, then (with `follow`) the lines appended to it. */
async function tailFile(file: string, count: number, follow: boolean, onMessage: (m: unknown) => void, signal?: AbortSignal): Promise<void> {
  const parse = (line: string) => {
    try {
      onMessage(JSON.parse(line));
    } catch {
      // A line being written: skipped (a later read sees it whole).
    }
  };
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || !follow) throw new CliError(`cannot read ${file}`, exitCodes.usage);
    text = '';
  }
  let offset = Buffer.byteLength(text);
  const complete = text.slice(0, text.lastIndexOf('\n') + 1);
  offset = Buffer.byteLength(complete);
  for (const line of complete.split('\n').filter(Boolean).slice(-count)) parse(line);
  let partial = '';
  while (follow && !signal?.aborted) {
    await abortableSleep(250, signal);
    const size = await stat(file).then((s) => s.size, () => 0);
    if (size <= offset) continue;
    const handle = await open(file, 'r');
    try {
      const buffer = Buffer.alloc(size - offset);
      await handle.read(buffer, 0, buffer.length, offset);
      offset = size;
      const chunk = partial + buffer.toString('utf8');
      const lines = chunk.split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines.filter(Boolean)) parse(line);
    } finally {
      await handle.close();
    }
  }
}