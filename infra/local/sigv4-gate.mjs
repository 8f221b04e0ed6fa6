// @ts-check
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { createServer, request } from 'node:http';

/**
 * A front for an embedded store (dynalite, s3rver) that only lets through requests signed (AWS Signature
 * Version 4) with the twin's own store credentials. Neither server checks signatures itself (dynalite
 * accepts any, s3rver skips V4 and serves unsigned requests), so each listens on a Unix socket inside the
 * 0700 data dir and this gate, on loopback TCP, is the only way in. A refused request never reaches the store.
 *
 * Plain JavaScript, its types in ./sigv4-gate.d.mts: the gates run in the stores' own process
 * (./stores-process.mjs), which runs under plain node whether the twin runs from the sources, a bundle or a
 * test runner. There a DynamoDB request the gate admits goes to dynalite's request handler in the same
 * process (`upstream.handler`: no second hop over a socket); S3 requests go on to s3rver's socket.
 */

/** @param {string} s */
const rfc3986 = (s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/** @param {string} s */
function decode(s) {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** @param {string} search */
function canonicalQuery(search) {
  if (!search) return '';
  const pairs = search
    .split('&')
    .filter(Boolean)
    .map((part) => {
      const eq = part.indexOf('=');
      const [k, v] = eq === -1 ? [part, ''] : [part.slice(0, eq), part.slice(eq + 1)];
      return /** @type {const} */ ([rfc3986(decode(k)), rfc3986(decode(v))]);
    })
    .filter(([k]) => k !== 'X-Amz-Signature');
  pairs.sort(([ak, av], [bk, bv]) => (ak < bk ? -1 : ak > bk ? 1 : av < bv ? -1 : av > bv ? 1 : 0));
  return pairs.map(([k, v]) => `${k}=${v}`).join('&');
}

/** @param {Buffer | string} key @param {string} data */
function hmac(key, data) {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

/**
 * A header the request carries (its own property only: the names come from the request's signed-header list,
 * and `constructor` or `toString` must not read the headers object's prototype).
 * @param {import('node:http').IncomingMessage} req @param {string} name @returns {string | undefined}
 */
function header(req, name) {
  if (!Object.hasOwn(req.headers, name)) return undefined;
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

/** The query parameters of a presigned (query-string) SigV4 request. */
const presignParams = ['X-Amz-Algorithm', 'X-Amz-Credential', 'X-Amz-Date', 'X-Amz-Expires', 'X-Amz-SignedHeaders', 'X-Amz-Signature', 'X-Amz-Security-Token'];

/** The URL without its presigned-auth parameters (the store behind the gate must not check them again). */
/** @param {string} url */
export function withoutPresignParams(url) {
  const q = url.indexOf('?');
  if (q === -1) return url;
  const kept = url
    .slice(q + 1)
    .split('&')
    .filter((part) => part && !presignParams.includes(decode(part.split('=')[0] ?? '')));
  return kept.length ? `${url.slice(0, q)}?${kept.join('&')}` : url.slice(0, q);
}

/**
 * @param {Pick<import('./sigv4-gate.d.mts').GateOptions, 'credentials'>} options
 * @param {{ day: string; region: string; service: string; amzDate: string; canonical: string; signature: string }} parts
 */
function signatureMatches(options, parts) {
  const scope = `${parts.day}/${parts.region}/${parts.service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', parts.amzDate, scope, createHash('sha256').update(parts.canonical, 'utf8').digest('hex')].join('\n');
  const key = hmac(hmac(hmac(hmac(`AWS4${options.credentials.secretAccessKey}`, parts.day), parts.region), parts.service), 'aws4_request');
  const expected = hmac(key, stringToSign);
  const given = Buffer.from(parts.signature, 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** @param {string} amzDate */
function utcOf(amzDate) {
  return Date.UTC(+amzDate.slice(0, 4), +amzDate.slice(4, 6) - 1, +amzDate.slice(6, 8), +amzDate.slice(9, 11), +amzDate.slice(11, 13), +amzDate.slice(13, 15));
}

/**
 * A presigned S3 URL (the upload and download URLs of docs/models.md): the signature is in the query, the
 * payload unsigned, and the URL valid from X-Amz-Date for X-Amz-Expires seconds (at most 7 days, as S3).
 */
/**
 * @param {import('node:http').IncomingMessage} req @param {URLSearchParams} query
 * @param {Pick<import('./sigv4-gate.d.mts').GateOptions, 'service' | 'credentials' | 'maxSkewMs' | 'now'>} options
 * @returns {import('./sigv4-gate.d.mts').Verdict}
 */
function verifyPresigned(req, query, options) {
  /** @param {string} message @returns {import('./sigv4-gate.d.mts').Verdict} */
  const invalid = (message) => ({ ok: false, code: 'InvalidSignature', message });
  if (options.service !== 's3') return invalid('presigned URLs are for S3 only');
  if (query.get('X-Amz-Algorithm') !== 'AWS4-HMAC-SHA256') return invalid('X-Amz-Algorithm must be AWS4-HMAC-SHA256');
  const credential = /^([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request$/.exec(query.get('X-Amz-Credential') ?? '');
  if (!credential) return invalid('X-Amz-Credential is malformed');
  const [, keyId, day, region, service] = /** @type {[string, string, string, string, string]} */ (/** @type {unknown} */ (credential));
  if (keyId !== options.credentials.accessKeyId) return { ok: false, code: 'UnrecognizedClient', message: 'The AWS access key Id you provided does not exist in our records' };
  const amzDate = query.get('X-Amz-Date') ?? '';
  const expires = Number(query.get('X-Amz-Expires'));
  const signedList = query.get('X-Amz-SignedHeaders') ?? '';
  const signature = query.get('X-Amz-Signature') ?? '';
  if (!/^\d{8}T\d{6}Z$/.test(amzDate) || !amzDate.startsWith(day)) return invalid('X-Amz-Date must be dated as its credential scope');
  if (!Number.isInteger(expires) || expires < 1 || expires > 604_800) return invalid('X-Amz-Expires must be 1 to 604800 seconds');
  if (!/^[a-z0-9;-]+$/.test(signedList) || !signedList.split(';').includes('host') || !/^[0-9a-f]{64}$/.test(signature)) return invalid('the signature must cover host');
  const now = options.now?.() ?? Date.now();
  const at = utcOf(amzDate);
  if (now < at - (options.maxSkewMs ?? 15 * 60_000) || now > at + expires * 1000) return { ok: false, code: 'RequestExpired', message: 'Request has expired' };
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const signed = signedList.split(';');
  const canonicalHeaders = signed.map((name) => `${name}:${(header(req, name) ?? '').trim().replace(/\s+/g, ' ')}\n`).join('');
  const canonical = [req.method ?? 'GET', url.slice(0, q) || '/', canonicalQuery(url.slice(q + 1)), canonicalHeaders, signedList, 'UNSIGNED-PAYLOAD'].join('\n');
  if (!signatureMatches(options, { day, region, service, amzDate, canonical, signature })) {
    return invalid('The request signature we calculated does not match the signature you provided');
  }
  return { ok: true };
}

/**
 * What a header-signed request says before its body: refused, or its parsed Authorization (the signature is
 * checked once the body is read, as it covers the body's hash).
 * @param {import('node:http').IncomingMessage} req
 * @param {Pick<import('./sigv4-gate.d.mts').GateOptions, 'credentials' | 'maxSkewMs' | 'now'>} options
 * @returns {Exclude<import('./sigv4-gate.d.mts').Verdict, { ok: true }> | { ok: true; day: string; region: string; service: string; signedList: string; signature: string; amzDate: string }}
 */
function headerAuth(req, options) {
  const auth = header(req, 'authorization');
  if (!auth) return { ok: false, code: 'MissingAuthenticationToken', message: 'Request is missing an AWS Signature Version 4 Authorization header' };
  const match = /^AWS4-HMAC-SHA256 Credential=([^/,\s]+)\/(\d{8})\/([^/,\s]+)\/([^/,\s]+)\/aws4_request,\s*SignedHeaders=([a-z0-9;-]+),\s*Signature=([0-9a-f]{64})$/.exec(auth.trim());
  if (!match) return { ok: false, code: 'InvalidSignature', message: 'Authorization header is not AWS4-HMAC-SHA256' };
  const [, keyId, day, region, service, signedList, signature] = /** @type {[string, string, string, string, string, string, string]} */ (/** @type {unknown} */ (match));
  if (keyId !== options.credentials.accessKeyId) return { ok: false, code: 'UnrecognizedClient', message: 'The security token included in the request is invalid' };
  const amzDate = header(req, 'x-amz-date') ?? '';
  const signed = signedList.split(';');
  if (!/^\d{8}T\d{6}Z$/.test(amzDate) || !amzDate.startsWith(day) || !signed.includes('host') || !signed.includes('x-amz-date')) {
    return { ok: false, code: 'InvalidSignature', message: 'the signature must cover host and x-amz-date, dated as its credential scope' };
  }
  if (Math.abs((options.now?.() ?? Date.now()) - utcOf(amzDate)) > (options.maxSkewMs ?? 15 * 60_000)) return { ok: false, code: 'RequestExpired', message: 'Signature expired or not yet valid' };
  return { ok: true, day, region, service, signedList, signature, amzDate };
}

/** Whether the request is presigned (its signature in the query, no Authorization header). @param {import('node:http').IncomingMessage} req */
function presignedQuery(req) {
  const search = (req.url ?? '').split('?')[1];
  if (header(req, 'authorization') || search === undefined) return undefined;
  const query = new URLSearchParams(search);
  return query.has('X-Amz-Signature') ? query : undefined;
}

/**
 * The refusal a request earns from its head alone (presigned: the whole check; header-signed: all but the
 * signature), so that a request nobody signed is answered before its body is read, not after up to
 * `maxBodyBytes` of it was buffered.
 * @param {import('node:http').IncomingMessage} req
 * @param {Pick<import('./sigv4-gate.d.mts').GateOptions, 'service' | 'credentials' | 'maxSkewMs' | 'now'>} options
 * @returns {Exclude<import('./sigv4-gate.d.mts').Verdict, { ok: true }> | undefined}
 */
export function refusedByHead(req, options) {
  const query = presignedQuery(req);
  const verdict = query ? verifyPresigned(req, query, options) : headerAuth(req, options);
  return verdict.ok ? undefined : verdict;
}

/** Checks one request's SigV4 signature (Authorization header, or a presigned S3 URL) against `credentials`. Pure: exported for unit tests. */
/**
 * @param {import('node:http').IncomingMessage} req @param {Buffer} body
 * @param {Pick<import('./sigv4-gate.d.mts').GateOptions, 'service' | 'credentials' | 'maxSkewMs' | 'now'>} options
 * @returns {import('./sigv4-gate.d.mts').Verdict}
 */
export function verifySigV4(req, body, options) {
  const query = presignedQuery(req);
  if (query) return verifyPresigned(req, query, options);
  const head = headerAuth(req, options);
  if (!head.ok) return head;
  const { day, region, service, signedList, signature, amzDate } = head;
  const signed = signedList.split(';');
  const bodyHash = createHash('sha256').update(body).digest('hex');
  const declared = header(req, 'x-amz-content-sha256');
  // A declared hash must be the body's (else a captured signature would carry another body); S3 may say UNSIGNED-PAYLOAD.
  if (declared !== undefined && declared !== 'UNSIGNED-PAYLOAD' && declared !== bodyHash) return { ok: false, code: 'InvalidSignature', message: 'x-amz-content-sha256 does not match the body' };
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const rawPath = q === -1 ? url : url.slice(0, q);
  const path = options.service === 's3' ? rawPath : rawPath.split('/').map((s) => rfc3986(s)).join('/');
  const canonicalHeaders = signed.map((name) => `${name}:${(header(req, name) ?? '').trim().replace(/\s+/g, ' ')}\n`).join('');
  const canonical = [req.method ?? 'GET', path || '/', canonicalQuery(q === -1 ? '' : url.slice(q + 1)), canonicalHeaders, signedList, declared ?? bodyHash].join('\n');
  const scope = `${day}/${region}/${service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, createHash('sha256').update(canonical, 'utf8').digest('hex')].join('\n');
  const key = hmac(hmac(hmac(hmac(`AWS4${options.credentials.secretAccessKey}`, day), region), service), 'aws4_request');
  const expected = hmac(key, stringToSign);
  const given = Buffer.from(signature, 'hex');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return { ok: false, code: 'InvalidSignature', message: 'The request signature we calculated does not match the signature you provided' };
  }
  return { ok: true };
}

/** The store's own error shape, so the SDK surfaces a named exception. */
/**
 * @param {import('node:http').ServerResponse} res @param {import('./sigv4-gate.d.mts').GateOptions['service']} service
 * @param {Exclude<import('./sigv4-gate.d.mts').Verdict, { ok: true }>} verdict
 */
function refuse(res, service, verdict) {
  if (service === 's3') {
    const code = verdict.code === 'InvalidSignature' ? 'SignatureDoesNotMatch' : verdict.code === 'UnrecognizedClient' ? 'InvalidAccessKeyId' : 'AccessDenied';
    res.writeHead(403, { 'content-type': 'application/xml' });
    res.end(`<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${verdict.message}</Message></Error>`);
    return;
  }
  const type = verdict.code === 'UnrecognizedClient' ? 'UnrecognizedClientException' : verdict.code === 'RequestExpired' ? 'InvalidSignatureException' : verdict.code === 'MissingAuthenticationToken' ? 'MissingAuthenticationTokenException' : 'InvalidSignatureException';
  res.writeHead(verdict.code === 'MissingAuthenticationToken' ? 403 : 400, { 'content-type': 'application/x-amz-json-1.0' });
  res.end(JSON.stringify({ __type: `com.amazon.coral.service#${type}`, message: verdict.message }));
}

/**
 * The admitted request, replayed for a store's request handler in this process (dynalite's reads
 * `method`, `url`, `headers` and the body's `data`/`end` events): the body was already read, to check its hash.
 * @param {import('node:http').IncomingMessage} req @param {import('node:http').IncomingHttpHeaders} headers
 * @param {string | undefined} url @param {Buffer} body
 */
function replayed(req, headers, url, body) {
  const copy = Object.assign(new EventEmitter(), { method: req.method, url, headers, socket: req.socket });
  process.nextTick(() => {
    if (body.length > 0) copy.emit('data', body);
    copy.emit('end');
  });
  return copy;
}

/**
 * Starts the gate on 127.0.0.1 (a free port); resolves its URL and a close function.
 * @param {import('./sigv4-gate.d.mts').GateOptions} options
 * @returns {Promise<import('./sigv4-gate.d.mts').SigV4Gate>}
 */
export async function startSigV4Gate(options) {
  const limit = options.maxBodyBytes ?? 32 * 1024 * 1024;
  const maxBuffered = options.maxBufferedBytes ?? 4 * limit;
  const upstream = options.upstream;
  let forwarded = 0;
  /** Bytes of request bodies held now, over every request (each is read whole before its signature is checked). */
  let buffered = 0;
  const server = createServer((req, res) => {
    /** @type {Exclude<import('./sigv4-gate.d.mts').Verdict, { ok: true }> | undefined} */
    let early;
    try {
      early = refusedByHead(req, options);
    } catch {
      early = { ok: false, code: 'InvalidSignature', message: 'The request signature could not be checked' };
    }
    if (early) {
      // Answered without reading the body; the connection closes after the answer.
      res.setHeader('connection', 'close');
      req.on('error', () => res.destroy());
      return refuse(res, options.service, early);
    }
    /** @type {Buffer[]} */
    const chunks = [];
    let size = 0;
    let held = 0;
    const release = () => {
      buffered -= held;
      held = 0;
    };
    // A client that goes away mid-request must not take the twin with it (an unhandled 'error').
    req.on('error', () => res.destroy());
    req.on('close', release);
    req.on('data', (/** @type {Buffer} */ chunk) => {
      if (res.writableEnded) return;
      size += chunk.length;
      // One body past its limit, or all bodies held past theirs (many clients each sending a large one):
      // refused, so that what the gate holds is bounded whoever sends.
      const full = buffered + chunk.length > maxBuffered;
      if (size > limit || full) {
        release();
        chunks.length = 0;
        res.writeHead(size > limit ? 413 : 503, { connection: 'close', ...(full && size <= limit ? { 'retry-after': '1' } : {}) });
        res.end();
        req.destroy();
        return;
      }
      buffered += chunk.length;
      held += chunk.length;
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (res.writableEnded) return;
      const body = Buffer.concat(chunks);
      release();
      /** @type {import('./sigv4-gate.d.mts').Verdict} */
      let verdict;
      try {
        verdict = verifySigV4(req, body, options);
      } catch {
        // Whatever a request holds, it must not take down the stores' process (and with it the twin's data path).
        verdict = { ok: false, code: 'InvalidSignature', message: 'The request signature could not be checked' };
      }
      if (!verdict.ok) return refuse(res, options.service, verdict);
      forwarded++;
      const headers = { ...req.headers };
      if (options.stripAuthorization) delete headers.authorization;
      // The gate checked a presigned URL's signature; the store behind it would refuse our key id.
      const path = options.stripAuthorization ? withoutPresignParams(req.url ?? '/') : req.url;
      if ('handler' in upstream) {
        upstream.handler(/** @type {never} */ (replayed(req, headers, path, body)), res);
        return;
      }
      const target = 'socketPath' in upstream ? { socketPath: upstream.socketPath } : { host: new URL(upstream.url).hostname, port: new URL(upstream.url).port };
      const forward = request({ ...target, method: req.method, path, headers }, (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      });
      forward.on('error', () => {
        if (!res.headersSent) res.writeHead(502);
        res.end();
      });
      forward.end(body);
    });
  });
  await /** @type {Promise<void>} */ (
    new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    })
  );
  return {
    endpoint: `http://127.0.0.1:${/** @type {import('node:net').AddressInfo} */ (server.address()).port}`,
    server,
    forwarded: () => forwarded,
    buffered: () => buffered,
    close: () =>
      /** @type {Promise<void>} */ (
        new Promise((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        })
      ),
  };
}
