import { randomUUID } from 'node:crypto';
import { appendFile, open } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { refusedByHead, verifySigV4, type StoreCredentials } from './sigv4-gate.mjs';

/** One message the sink received, as appended to alerts.jsonl. */
export interface SinkMessage {
  messageId: string;
  received: string;
  topicArn: string;
  subject?: string;
  /** The message body, parsed when it is JSON. */
  message: unknown;
  attributes: Record<string, string>;
}

/** The messages the sink keeps in memory for `recent` (oldest dropped first). */
export const keptMessages = 1_000;
/** The messages kept per replay group (a plant's alerts: the stream replays at most 100). */
export const keptPerGroup = 100;
/** Replay groups kept (plants); past it, the group that received nothing for longest is dropped. */
export const keptGroups = 1_000;
/** The largest Publish request taken: an SNS message is at most 256 KiB, form-encoded up to three times that. */
export const maxPublishBytes = 1024 * 1024;
/** How much of alerts.jsonl a start reads back (its end): the file itself grows without bound. */
export const tailBytes = 4 * 1024 * 1024;

/**
 * A line of alerts.jsonl as the sink writes it, or undefined. The file sits on an edge box's disk (its
 * operator's) and a line read back is replayed into every stream as `id: <messageId>` and `data: <json>`: a
 * messageId is one printable token (a line break in it would forge events), and only these fields are kept.
 * Checked by hand, not with zod: a start reads back some 40,000 lines, and zod took four times the JSON parse.
 */
function sinkLine(value: unknown): SinkMessage | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const { messageId, received, topicArn, subject, message, attributes } = value as Record<string, unknown>;
  if (typeof messageId !== 'string' || !/^[\x21-\x7e]{1,128}$/.test(messageId)) return undefined;
  if (typeof received !== 'string' || received.length > 64 || typeof topicArn !== 'string' || topicArn.length > 1024) return undefined;
  if (subject !== undefined && (typeof subject !== 'string' || subject.length > 100)) return undefined;
  if (typeof attributes !== 'object' || attributes === null || Array.isArray(attributes)) return undefined;
  const kept: Record<string, string> = {};
  for (const [name, text] of Object.entries(attributes)) {
    if (typeof text !== 'string') return undefined;
    kept[name] = text;
  }
  return { messageId, received, topicArn, ...(subject !== undefined ? { subject } : {}), message, attributes: kept };
}

/** A kept message and its arrival order (replays merge groups by it). */
interface Kept {
  seq: number;
  message: SinkMessage;
}

/**
 * The local twin's SNS: a small endpoint that answers the SDK's query-protocol `Publish` (so the real
 * PublishCommand runs unchanged through AWS_ENDPOINT_URL_SNS), appends each message to
 * `<data dir>/alerts.jsonl`, forwards it to a webhook when one is set, and tells live listeners (the
 * dashboard's event stream). `failing = true` makes it answer 500, for fault tests.
 *
 * What a stream replays is kept in memory, per group (`groupOf`: the alert stream's is the plant), so one
 * plant's storm never pushes another plant's alerts out of its replay, and opening a stream never reads the
 * file: the start reads back the file's last {@link tailBytes} once (a torn or foreign line is skipped).
 */
export class SnsSink {
  private server: Server | undefined;
  /** Where it listens (`http://127.0.0.1:<port>`), once `listen` has answered. */
  endpoint: string | undefined;
  private readonly listeners = new Set<(message: SinkMessage) => void>();
  private readonly latest: Kept[] = [];
  private readonly groups = new Map<string, Kept[]>();
  private seq = 0;
  private loading: Promise<void> | undefined;
  failing = false;

  constructor(
    private readonly file: string,
    private readonly webhookUrl?: string,
    /** The replay group of a message (undefined: in none). */
    private readonly groupOf: (message: SinkMessage) => string | undefined = () => undefined,
    /**
     * When set, only requests signed (SigV4) with these are taken, as at the stores' gates: what the sink receives
     * reaches every plant's alert stream, so another process on the box must not be able to publish.
     */
    private readonly credentials?: StoreCredentials,
  ) {}

  async listen(): Promise<string> {
    await this.load();
    this.server = createServer((req, res) => {
      const answer = ({ status, xml }: { status: number; xml: string }) => {
        res.writeHead(status, { 'content-type': 'text/xml', ...(status >= 400 ? { connection: 'close' } : {}) });
        res.end(xml);
      };
      // Refused from its head alone (unsigned, another key, stale), before a byte of its body is held.
      const head = this.credentials ? refusedByHead(req, { service: 'dynamodb', credentials: this.credentials }) : undefined;
      if (head) return answer({ status: 403, xml: errorXml(head.code, head.message, randomUUID()) });
      if (Number(req.headers['content-length'] ?? 0) > maxPublishBytes) return answer({ status: 413, xml: errorXml('RequestEntityTooLarge', `A Publish request is at most ${maxPublishBytes} bytes`, randomUUID()) });
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (size > maxPublishBytes) {
          answer({ status: 413, xml: errorXml('RequestEntityTooLarge', `A Publish request is at most ${maxPublishBytes} bytes`, randomUUID()) });
          req.destroy();
          return;
        }
        chunks.push(c);
      });
      req.on('end', () => {
        if (size > maxPublishBytes) return;
        const body = Buffer.concat(chunks);
        const verdict = this.verify(req, body);
        if (verdict) return answer({ status: 403, xml: errorXml(verdict.code, verdict.message, randomUUID()) });
        void this.handle(body.toString('utf8')).then(answer);
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', () => resolve()));
    this.endpoint = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.endpoint;
  }

  /** The refusal of a request whose signature does not cover its body, or undefined (also without credentials). */
  private verify(req: IncomingMessage, body: Buffer): { code: string; message: string } | undefined {
    if (!this.credentials) return undefined;
    const verdict = verifySigV4(req, body, { service: 'dynamodb', credentials: this.credentials });
    return verdict.ok ? undefined : verdict;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    this.listeners.clear();
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  subscribe(listener: (message: SinkMessage) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The last `count` messages received (oldest first; at most {@link keptMessages}). */
  async recent(count: number): Promise<SinkMessage[]> {
    await this.load();
    return count > 0 ? this.latest.slice(-count).map((k) => k.message) : [];
  }

  /** The last `count` messages of the named groups, or of every group (`'all'`), oldest first. */
  async recentIn(groups: readonly string[] | 'all', count: number): Promise<SinkMessage[]> {
    await this.load();
    if (count <= 0) return [];
    const rings = groups === 'all' ? [...this.groups.values()] : groups.map((g) => this.groups.get(g) ?? []);
    if (rings.length === 1) return rings[0]!.slice(-count).map((k) => k.message);
    return newestOf(rings, count).map((k) => k.message);
  }

  /** Reads back the end of the file once (the first call; later ones wait for it). */
  private load(): Promise<void> {
    return (this.loading ??= this.readTail());
  }

  private async readTail(): Promise<void> {
    const handle = await open(this.file, 'r').catch(() => undefined);
    if (!handle) return;
    let text: string;
    try {
      const { size } = await handle.stat();
      const start = Math.max(0, size - tailBytes);
      const buffer = Buffer.alloc(size - start);
      await handle.read(buffer, 0, buffer.length, start);
      text = buffer.toString('utf8');
      // Started mid-file: the first line is a fragment.
      // With no line break in the tail at all, all of it is a fragment.
      if (start > 0) text = text.includes('\n') ? text.slice(text.indexOf('\n') + 1) : '';
    } finally {
      await handle.close();
    }
    for (const line of text.split('\n')) {
      if (!line) continue;
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch {
        continue; // a line torn by a crash mid-append
      }
      const message = sinkLine(value);
      if (message) this.keep(message);
    }
  }

  private keep(message: SinkMessage): void {
    const kept = { seq: this.seq++, message };
    this.latest.push(kept);
    if (this.latest.length > keptMessages) this.latest.splice(0, this.latest.length - keptMessages);
    const group = this.groupOf(message);
    if (group === undefined) return;
    let ring = this.groups.get(group);
    if (!ring) {
      if (this.groups.size >= keptGroups) {
        let stalest: string | undefined;
        let stalestSeq = Infinity;
        for (const [name, r] of this.groups) if (r[r.length - 1]!.seq < stalestSeq) [stalest, stalestSeq] = [name, r[r.length - 1]!.seq];
        this.groups.delete(stalest!);
      }
      ring = [];
      this.groups.set(group, ring);
    }
    ring.push(kept);
    if (ring.length > keptPerGroup) ring.shift();
  }

  private async handle(body: string): Promise<{ status: number; xml: string }> {
    const requestId = randomUUID();
    if (this.failing) return { status: 500, xml: errorXml('InternalError', 'The local SNS sink is set to fail', requestId) };
    const form = new URLSearchParams(body);
    if (form.get('Action') !== 'Publish') return { status: 400, xml: errorXml('InvalidAction', `Unsupported action ${form.get('Action')}`, requestId) };
    const topicArn = form.get('TopicArn');
    const text = form.get('Message');
    if (!topicArn || text === null) return { status: 400, xml: errorXml('InvalidParameter', 'TopicArn and Message are required', requestId) };
    const attributes: Record<string, string> = {};
    for (let i = 1; form.has(`MessageAttributes.entry.${i}.Name`); i++) {
      attributes[form.get(`MessageAttributes.entry.${i}.Name`)!] = form.get(`MessageAttributes.entry.${i}.Value.StringValue`) ?? '';
    }
    let message: unknown = text;
    try {
      message = JSON.parse(text);
    } catch {
      // Plain-text messages stay strings.
    }
    const received: SinkMessage = {
      messageId: randomUUID(),
      received: new Date().toISOString(),
      topicArn,
      ...(form.get('Subject') ? { subject: form.get('Subject')! } : {}),
      message,
      attributes,
    };
    await appendFile(this.file, `${JSON.stringify(received)}\n`, { mode: 0o600 });
    this.keep(received);
    for (const listener of this.listeners) listener(received);
    if (this.webhookUrl) {
      fetch(this.webhookUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(received) }).catch((error: unknown) =>
        process.stderr.write(`${JSON.stringify({ level: 'WARN', message: 'alert webhook failed', error: String(error) })}\n`),
      );
    }
    return {
      status: 200,
      xml: `<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>${received.messageId}</MessageId></PublishResult><ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata></PublishResponse>`,
    };
  }
}

/**
 * The newest `count` of several rings (each in arrival order), oldest first: walked back from the rings' ends,
 * `count` steps over the rings, so a platform replay over every plant costs count × plants comparisons, not a
 * sort of everything kept (100,000 messages at the bounds: tens of milliseconds of the event loop per stream).
 */
function newestOf(rings: readonly Kept[][], count: number): Kept[] {
  const at = rings.map((r) => r.length - 1);
  const picked: Kept[] = [];
  while (picked.length < count) {
    let best = -1;
    for (let i = 0; i < rings.length; i++) if (at[i]! >= 0 && (best < 0 || rings[i]![at[i]!]!.seq > rings[best]![at[best]!]!.seq)) best = i;
    if (best < 0) break;
    picked.push(rings[best]![at[best]!]!);
    at[best]!--;
  }
  return picked.reverse();
}

function errorXml(code: string, message: string, requestId: string): string {
  return `<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type><Code>${code}</Code><Message>${message}</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`;
}
