import { AppError, clip, InvalidRequestError } from './errors.js';

/**
 * The one reader of request bodies (every route, through functions/middleware/http.ts): what the bytes must be
 * before anything is parsed or stored. The seventh hostile review (test/api/redteam7-input.security.test.ts)
 * found each of these getting through: bytes that are not UTF-8 were read with U+FFFD in their place and stored
 * that way (an API key named "���"); a `\ud800` escape (a lone surrogate, which no UTF-8 store can hold) was
 * stored as sent; a body declared UTF-16, Latin-1 or gzip was read as plain UTF-8 JSON and served; JSON nested
 * 2.5 million deep cost the twin 1.2 s of CPU for 5 MB, from an unauthenticated caller on the login route. Since
 * 2026-12-04 it also refuses a body over its route's limit (functions/body-limits.ts) and one of too many distinct keys.
 */

/** Deeper than any body a route takes (a manifest or an OIP tensor is under 10); past it JSON.parse is not run. */
export const maxJsonDepth = 64;

/** The request headers a body is read by (names lower-case, as API Gateway's payload 2.0 gives them). */
export interface BodySource {
  body: string | undefined | null;
  isBase64Encoded?: boolean;
  contentType: string;
  contentEncoding: string | undefined;
  /** The route's body limit in bytes, checked before anything else is done with the body. */
  maxBytes?: number | undefined;
}

const fatalUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The bytes base64 `text` decodes to, without decoding it: three per four characters, less its `=` padding (a body of
 * exactly the route's limit, base64 because it is not UTF-8 text, was counted up to two bytes over it and refused as
 * too large instead of as not UTF-8).
 */
export function base64Bytes(text: string): number {
  let padding = 0;
  while (padding < 2 && text.charCodeAt(text.length - 1 - padding) === 0x3d) padding++;
  return Math.floor((text.length * 3) / 4) - padding;
}

/** The body as text, or `undefined` when there is none; refuses a body over the route's limit, a coded body, a charset other than UTF-8, bytes that are not UTF-8. */
export function bodyText(source: BodySource): string | undefined {
  if (source.body === undefined || source.body === null || source.body === '') return undefined;
  if (source.maxBytes !== undefined) {
    const bytes = source.isBase64Encoded ? base64Bytes(source.body) : Buffer.byteLength(source.body);
    if (bytes > source.maxBytes) {
      throw new AppError('PAYLOAD_TOO_LARGE', `The body is over this route's ${source.maxBytes} bytes`, {
        issues: [{ field: 'body', rule: 'max_bytes', message: `the body may be at most ${source.maxBytes} bytes here` }],
      });
    }
  }
  const encoding = (source.contentEncoding ?? '').trim().toLowerCase();
  if (encoding !== '' && encoding !== 'identity') {
    throw new AppError('UNSUPPORTED_MEDIA_TYPE', 'Content-Encoding is not supported: send the body uncompressed', {
      issues: [{ field: 'content-encoding', rule: 'identity', message: `content-encoding ${clip(encoding, 32)} is not supported; send the body as is` }],
    });
  }
  const charset = /;\s*charset\s*=\s*"?([^";\s]*)/i.exec(source.contentType)?.[1]?.toLowerCase();
  if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
    throw new AppError('UNSUPPORTED_MEDIA_TYPE', 'The body must be UTF-8', {
      issues: [{ field: 'content-type', rule: 'charset', message: `charset ${clip(charset, 32)} is not supported; send UTF-8 (or no charset)` }],
    });
  }
  if (!source.isBase64Encoded) return source.body;
  // The gateway hands over as base64 any body that is not valid UTF-8 text; read with U+FFFD in place of the bad bytes, it would be stored changed.
  try {
    return fatalUtf8.decode(Buffer.from(source.body, 'base64'));
  } catch {
    throw new InvalidRequestError('body is not valid UTF-8', [{ field: 'body', rule: 'utf8', message: 'the body must be UTF-8 text' }]);
  }
}

/**
 * Distinct object keys a body may spell (8 models' worth of 256 features, the envelope's keys included). JSON.parse
 * gives every new key, and every new order of keys, its own hidden class: 5 MB of objects of random keys cost ~1.3 s
 * of CPU against ~30 ms for 5 MB of numbers. Few keys can still come in many orders: {@link maxJsonShapes}.
 */
export const maxJsonKeys = 2048;

/**
 * Distinct key orders a body may spell: the nodes of the tree of its objects' key sequences (each object's keys in
 * the order sent, objects sharing a prefix sharing its nodes), which is what JSON.parse builds a hidden class for.
 * 100 rows of 256 features each in its own order need ~25,600. The eighth hostile review sent 4.5 MB of objects of
 * 8 keys drawn at random from 2,040 (under {@link maxJsonKeys}): ~0.2-0.45 s of CPU, twice to four times the
 * same bytes in one order.
 */
export const maxJsonShapes = 32_768;

/**
 * Arrays and objects a body may hold. The largest bodies a route takes hold under ~25,000 (10,000 calibration rows,
 * 2,000 imported records, 100 rows of a batch). The eighth hostile review sent 6 MB of `{}` (or of `[[[...]]]`
 * 55 deep, under {@link maxJsonDepth}): ~0.4-0.8 s of CPU against ~0.12 s for 6 MB of numbers; at most 65,536 cost
 * what as many numbers do.
 */
export const maxJsonContainers = 65_536;

/** What {@link jsonShapeIssue} found, if anything. */
export type JsonShapeRule = 'depth' | 'keys' | 'shapes' | 'containers';

/**
 * The first shape rule JSON `text` breaks, in one pass over its characters (strings skipped): arrays and objects
 * nested deeper than `maxDepth` (JSON.parse of deep nesting costs ~25 times a flat body of the same size), more than
 * `maxContainers` arrays and objects, more than `maxKeys` distinct keys, or more than `maxShapes` distinct key orders
 * ({@link maxJsonShapes}). Keys are counted as spelt (an escaped spelling counts apart, a repeated key extends its
 * object's order): this over-counts what JSON.parse builds, never under-counts. Run before JSON.parse.
 */
export function jsonShapeIssue(text: string, maxDepth = maxJsonDepth, maxKeys = maxJsonKeys, maxShapes = maxJsonShapes, maxContainers = maxJsonContainers): JsonShapeRule | undefined {
  const keys = new Set<string>();
  // The key-order tree: node 0 is an object with no keys yet; next[n] maps a key to the node of n's order plus that key.
  const next: Map<string, number>[] = [new Map()];
  // One entry per open array (-1) or object (the node of the keys it has so far).
  const open: number[] = [];
  let containers = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // A string: skip to its closing quote (an escaped character is skipped whole); a key if a colon follows.
      const start = i + 1;
      for (i++; i < text.length; i++) {
        const s = text.charCodeAt(i);
        if (s === 0x5c) i++;
        else if (s === 0x22) break;
      }
      let j = i + 1;
      while (j < text.length && isJsonSpace(text.charCodeAt(j))) j++;
      if (j < text.length && text.charCodeAt(j) === 0x3a) {
        const key = text.slice(start, i);
        keys.add(key);
        if (keys.size > maxKeys) return 'keys';
        const top = open.length - 1;
        const node = open[top];
        if (node !== undefined && node >= 0) {
          const children = next[node]!;
          let child = children.get(key);
          if (child === undefined) {
            child = next.length;
            if (child > maxShapes) return 'shapes';
            next.push(new Map());
            children.set(key, child);
          }
          open[top] = child;
        }
      }
    } else if (c === 0x5b || c === 0x7b) {
      if (++containers > maxContainers) return 'containers';
      open.push(c === 0x7b ? 0 : -1);
      if (open.length > maxDepth) return 'depth';
    } else if (c === 0x5d || c === 0x7d) {
      open.pop();
    }
  }
  return undefined;
}

function isJsonSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

/** Whether JSON `text` nests arrays and objects deeper than `max` (see {@link jsonShapeIssue}). */
export function nestsDeeperThan(text: string, max: number): boolean {
  return jsonShapeIssue(text, max, Infinity, Infinity, Infinity) === 'depth';
}

/** A lone surrogate (with the `u` flag a pair is one code point, so only a lone one matches). */
const loneSurrogate = /\p{Cs}/u;

/** A `\uD800`–`\uDFFF` escape: only then can parsed JSON hold a lone surrogate (UTF-8 text itself cannot). */
const surrogateEscape = /\\u[dD][89a-fA-F]/;

/**
 * The path (`inputs.3.name`) of the first string or key in `value` holding a lone UTF-16 surrogate, which no
 * UTF-8 store keeps as sent (DynamoDB refuses it, or it becomes U+FFFD). Iterative: the depth is bounded anyway.
 */
export function illFormedStringPath(value: unknown): string | undefined {
  const stack: { value: unknown; path: string }[] = [{ value, path: '' }];
  while (stack.length) {
    const { value: v, path } = stack.pop()!;
    if (typeof v === 'string') {
      if (loneSurrogate.test(v)) return path || 'body';
    } else if (typeof v === 'object' && v !== null) {
      for (const [key, child] of Object.entries(v)) {
        const childPath = path ? `${path}.${key}` : key;
        if (loneSurrogate.test(key)) return childPath;
        stack.push({ value: child, path: childPath });
      }
    }
  }
  return undefined;
}

/** Parses a JSON body read by {@link bodyText}: bounded nesting, containers, keys and key orders, well-formed strings, else a 400 naming the field and rule. */
export function parseJsonBody(text: string): unknown {
  const shape = jsonShapeIssue(text);
  if (shape === 'depth') {
    throw new InvalidRequestError(`body nests deeper than ${maxJsonDepth} levels`, [
      { field: 'body', rule: 'depth', message: `arrays and objects may nest at most ${maxJsonDepth} deep` },
    ]);
  }
  if (shape === 'keys') {
    throw new InvalidRequestError(`body uses more than ${maxJsonKeys} distinct keys`, [
      { field: 'body', rule: 'keys', message: `objects may use at most ${maxJsonKeys} distinct keys in one body; send fewer, or split the request` },
    ]);
  }
  if (shape === 'shapes') {
    throw new InvalidRequestError(`body spells more than ${maxJsonShapes} distinct key orders`, [
      { field: 'body', rule: 'shapes', message: `objects may spell at most ${maxJsonShapes} distinct key orders in one body; send like objects with their keys in one order, or split the request` },
    ]);
  }
  if (shape === 'containers') {
    throw new InvalidRequestError(`body holds more than ${maxJsonContainers} arrays and objects`, [
      { field: 'body', rule: 'containers', message: `a body may hold at most ${maxJsonContainers} arrays and objects; send fewer, or split the request` },
    ]);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text) as unknown;
  } catch (error) {
    throw new InvalidRequestError(`body is not valid JSON: ${(error as Error).message}`, [{ field: 'body', rule: 'json', message: 'body must be valid JSON' }]);
  }
  if (surrogateEscape.test(text)) {
    const field = illFormedStringPath(parsed);
    if (field !== undefined) {
      const clipped = clip(field, 128);
      throw new InvalidRequestError(`${clipped} holds a lone UTF-16 surrogate`, [{ field: clipped, rule: 'unicode', message: `${clipped} must be well-formed Unicode (no lone surrogate)` }]);
    }
  }
  return parsed;
}
