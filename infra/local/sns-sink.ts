import { randomUUID } from 'node:crypto';
import { appendFile, open } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

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
/** How much of alerts.jsonl a start reads back (its end): the file itself grows without bound. */
export const tailBytes = 4 * 1024 * 1024;

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
  ) {}

  async listen(): Promise<string> {
    await this.load();
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        void this.handle(Buffer.concat(chunks).toString('utf8')).then(({ status, xml }) => {
          res.writeHead(status, { 'content-type': 'text/xml' });
          res.end(xml);
        });
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', () => resolve()));
    this.endpoint = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.endpoint;
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
    const rings = groups === 'all' ? [...this.groups.values()] : groups.map((g) => this.groups.get(g) ?? []);
    const merged = rings.length === 1 ? rings[0]! : rings.flat().sort((a, b) => a.seq - b.seq);
    return count > 0 ? merged.slice(-count).map((k) => k.message) : [];
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
      if (start > 0) text = text.slice(text.indexOf('\n') + 1);
    } finally {
      await handle.close();
    }
    for (const line of text.split('\n')) {
      if (!line) continue;
      let message: SinkMessage;
      try {
        message = JSON.parse(line) as SinkMessage;
      } catch {
        continue; // a line torn by a crash mid-append
      }
      if (typeof message === 'object' && message !== null && typeof message.messageId === 'string') this.keep(message);
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

function errorXml(code: string, message: string, requestId: string): string {
  return `<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type><Code>${code}</Code><Message>${message}</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`;
}
