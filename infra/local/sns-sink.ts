import { randomUUID } from 'node:crypto';
import { appendFile, readFile } from 'node:fs/promises';
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

/**
 * The local twin's SNS: a small endpoint that answers the SDK's query-protocol `Publish` (so the real
 * PublishCommand runs unchanged through AWS_ENDPOINT_URL_SNS), appends each message to
 * `<data dir>/alerts.jsonl`, forwards it to a webhook when one is set, and tells live listeners (the
 * dashboard's event stream). `failing = true` makes it answer 500, for fault tests.
 */
export class SnsSink {
  private server: Server | undefined;
  private readonly listeners = new Set<(message: SinkMessage) => void>();
  failing = false;

  constructor(
    private readonly file: string,
    private readonly webhookUrl?: string,
  ) {}

  async listen(): Promise<string> {
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
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
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

  /** The last `count` messages from the file (oldest first). */
  async recent(count: number): Promise<SinkMessage[]> {
    const text = await readFile(this.file, 'utf8').catch(() => '');
    return text
      .split('\n')
      .filter(Boolean)
      .slice(-count)
      .map((line) => JSON.parse(line) as SinkMessage);
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
