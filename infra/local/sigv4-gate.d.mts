// Types of ./sigv4-gate.mjs (plain JavaScript: it runs in the stores' process under plain node).
import type { IncomingMessage, RequestListener, Server } from 'node:http';

export interface StoreCredentials {
  accessKeyId: string;
  secretAccessKey: string;
}

export interface GateOptions {
  /** `s3`: canonical URI as sent (S3 does not double-encode); other services double-encode. */
  service: 's3' | 'dynamodb';
  credentials: StoreCredentials;
  /**
   * Where admitted requests go: a Unix socket path, a loopback TCP URL (DynamoDB Local in test/stores), or a
   * request handler in this process (dynalite's, in the stores' process).
   */
  upstream: { socketPath: string } | { url: string } | { handler: RequestListener };
  /** Drop the Authorization header before forwarding (s3rver refuses access key ids it does not know). */
  stripAuthorization?: boolean;
  /** Largest request body accepted (bytes). @default 32 MiB (a model package is at most ~7.5 MB). */
  maxBodyBytes?: number;
  /** Bytes of request bodies held at once, over every request; past it a request is refused (503). @default 4 × maxBodyBytes */
  maxBufferedBytes?: number;
  /** Allowed clock skew between the signer's X-Amz-Date and now. @default 15 minutes, as AWS */
  maxSkewMs?: number;
  now?: () => number;
}

export type Verdict = { ok: true } | { ok: false; code: 'MissingAuthenticationToken' | 'UnrecognizedClient' | 'InvalidSignature' | 'RequestExpired'; message: string };

export interface SigV4Gate {
  endpoint: string;
  server: Server;
  /** Requests let through to the store so far (the bench's store calls per request). */
  forwarded(): number;
  /** Bytes of request bodies the gate holds now (read, not yet checked and handed on). */
  buffered(): number;
  close(): Promise<void>;
}

/** The URL without its presigned-auth parameters (the store behind the gate must not check them again). */
export function withoutPresignParams(url: string): string;

/** Checks one request's SigV4 signature (Authorization header, or a presigned S3 URL) against `credentials`. Pure: exported for unit tests. */
export function verifySigV4(req: IncomingMessage, body: Buffer, options: Pick<GateOptions, 'service' | 'credentials' | 'maxSkewMs' | 'now'>): Verdict;

/** The refusal a request earns from its head alone (presigned: the whole check; header-signed: all but the signature). */
export function refusedByHead(req: IncomingMessage, options: Pick<GateOptions, 'service' | 'credentials' | 'maxSkewMs' | 'now'>): Exclude<Verdict, { ok: true }> | undefined;

/** Starts the gate on 127.0.0.1 (a free port). */
export function startSigV4Gate(options: GateOptions): Promise<SigV4Gate>;
