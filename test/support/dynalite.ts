import type { AddressInfo, Server } from 'node:net';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import dynalite from 'dynalite';
import { createTableInput, tableDef } from './reliability.js';

/**
 * An in-memory dynalite on loopback with some of infra/tables.ts's tables, for adapter tests
 * (test/stores/), and a document client that records (and can intercept) every command it sends.
 */
export interface MemoryDynamo {
  client: DynamoDBClient;
  db: DynamoDBDocumentClient;
  stop(): Promise<void>;
}

export async function startMemoryDynamo(tableIds: readonly string[]): Promise<MemoryDynamo> {
  const server: Server = dynalite({ createTableMs: 0 });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const client = new DynamoDBClient({ region: 'us-east-1', endpoint, credentials: { accessKeyId: 'test', secretAccessKey: 'test' }, maxAttempts: 1 });
  const db = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  for (const id of tableIds) await client.send(new CreateTableCommand(createTableInput(tableDef(id))));
  return {
    client,
    db,
    stop: async () => {
      client.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

// Any SDK command (the document client's and the low-level ones share `send`).
export type Command = { input: unknown; constructor: { name: string } };
export type Send = (command: Command) => Promise<unknown>;

/** A document client whose sends go through `around` (default: straight to `db`), each command recorded. */
export function recording(db: DynamoDBDocumentClient, around?: (command: Command, send: Send) => Promise<unknown>) {
  const sent: Command[] = [];
  const send: Send = (command) => db.send(command as never) as Promise<unknown>;
  const client = {
    send: (command: Command) => {
      sent.push(command);
      return around ? around(command, send) : send(command);
    },
  } as unknown as DynamoDBDocumentClient;
  return { client, sent, names: () => sent.map((c) => c.constructor.name) };
}
