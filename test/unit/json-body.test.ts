import { describe, expect, it } from 'vitest';
import { AppError } from '../../functions/core/errors.js';
import { base64Bytes, bodyText, illFormedStringPath, jsonShapeIssue, maxJsonContainers, maxJsonDepth, maxJsonKeys, maxJsonShapes, nestsDeeperThan, parseJsonBody } from '../../functions/core/json-body.js';

/** The shared body reader (functions/core/json-body.ts): its rules one by one; through the gateway: test/api/redteam7-input.security.test.ts. */

function refusal(f: () => unknown): { code: string; field?: string; rule?: string } {
  try {
    f();
  } catch (error) {
    expect(error).toBeInstanceOf(AppError);
    const e = error as AppError;
    return { code: e.code, field: e.issues?.[0]?.field, rule: e.issues?.[0]?.rule };
  }
  throw new Error('expected a refusal');
}

describe('nestsDeeperThan', () => {
  it('counts arrays and objects, not brackets inside strings or escaped quotes', () => {
    expect(nestsDeeperThan('[[[]]]', 3)).toBe(false);
    expect(nestsDeeperThan('[[[[]]]]', 3)).toBe(true);
    expect(nestsDeeperThan('{"a":{"b":[1]}}', 3)).toBe(false);
    expect(nestsDeeperThan('{"a":{"b":[{}]}}', 3)).toBe(true);
    expect(nestsDeeperThan(JSON.stringify({ s: '[[[[[[{{{{' }), 1)).toBe(false);
    expect(nestsDeeperThan(JSON.stringify({ s: 'a\\"[[[[' }), 1)).toBe(false);
    expect(nestsDeeperThan(`{"s":"\\"","t":[[[]]]}`, 3)).toBe(true);
  });
});

describe('jsonShapeIssue: distinct keys', () => {
  const keys = (n: number, from = 0) => Array.from({ length: n }, (_, i) => `"k${from + i}":0`).join(',');

  it(`takes ${maxJsonKeys} distinct keys however often they repeat, and refuses one more`, () => {
    expect(jsonShapeIssue(`{${keys(maxJsonKeys)}}`)).toBeUndefined();
    expect(jsonShapeIssue(`[${Array(50).fill(`{${keys(maxJsonKeys)}}`).join(',')}]`)).toBeUndefined();
    expect(jsonShapeIssue(`{${keys(maxJsonKeys + 1)}}`)).toBe('keys');
    expect(jsonShapeIssue(`[{${keys(maxJsonKeys)}},{${keys(1, maxJsonKeys)}}]`)).toBe('keys');
  });

  it('counts keys only: string values, colons inside strings and escaped quotes are not keys; space before the colon is', () => {
    expect(jsonShapeIssue(JSON.stringify(Array.from({ length: 5000 }, (_, i) => `v${i}:`)), 64, 10)).toBeUndefined();
    expect(jsonShapeIssue(JSON.stringify({ a: 'x":1,"y', b: ['c:', 'd'] }), 64, 2)).toBeUndefined();
    expect(jsonShapeIssue('{"a" :1, "b"\n:2, "c"\t: 3}', 64, 2)).toBe('keys');
    expect(jsonShapeIssue('{"a\\"b":1,"a":2}', 64, 1)).toBe('keys');
  });

  it('reports depth and keys by whichever comes first', () => {
    expect(jsonShapeIssue('[[[{"a":1,"b":2}]]]', 3, 1)).toBe('depth');
    expect(jsonShapeIssue('[{"a":1,"b":2},[[[]]]]', 3, 1)).toBe('keys');
  });

  it('parseJsonBody refuses too many distinct keys as body/keys before parsing', () => {
    expect(refusal(() => parseJsonBody(`{${keys(maxJsonKeys + 1)}}`))).toEqual({ code: 'INVALID_REQUEST', field: 'body', rule: 'keys' });
    expect(parseJsonBody(`{${keys(3)}}`)).toEqual({ k0: 0, k1: 0, k2: 0 });
  });
});

/** Every distinct key JSON.parse reads in `value`, at any depth. */
function parsedKeys(value: unknown, into = new Set<string>()): Set<string> {
  if (Array.isArray(value)) for (const v of value) parsedKeys(v, into);
  else if (typeof value === 'object' && value !== null) {
    for (const [k, v] of Object.entries(value)) {
      into.add(k);
      parsedKeys(v, into);
    }
  }
  return into;
}

describe('jsonShapeIssue never counts fewer keys than JSON.parse reads (the eighth hostile review)', () => {
  // Spellings a scanner could lose its place on: escaped quotes and backslashes at a string's end, escapes of the
  // same key, whitespace of every kind JSON allows before the colon, brackets, colons and commas inside keys and values.
  const tricky = [
    String.raw`{"A":1,"\\u0041":2,"\u0041":3}`,
    String.raw`{"a\\":1,"b\\\\":2,"c\\\"":3,"\\\"d":4}`,
    String.raw`{"\"":1,"\\":2,"\/":3,"/":4,"":5}`,
    '{"x" \t\r\n :1,"y"\n:{"z"\r: [ {"w" :2} ]}}',
    String.raw`{"k:{[":"v\":1,\"q\":","m,]}":["\\",{"n\\\\":"\\\""}]}`,
    String.raw`{"\u2028":1,"\u00e9":2,"é":3,"\ud83d\ude00":4,"😀":5}`,
    String.raw`[{"a":1},"b\\",{"c":"\\"},"\\\"",{"d":[]}]`,
  ];

  it.each(tricky)('%s', (text) => {
    const n = parsedKeys(JSON.parse(text) as unknown).size;
    expect(n).toBeGreaterThan(0);
    // At a limit of n - 1 keys the scanner must already refuse: it saw at least the n keys JSON.parse read.
    expect(jsonShapeIssue(text, maxJsonDepth, n - 1)).toBe('keys');
  });

  it('holds for 2,000 generated bodies of keys made of quotes, backslashes, colons, brackets and escapes', () => {
    const alphabet = ['"', '\\', ':', '{', '}', '[', ']', ',', ' ', '\n', '\t', 'a', 'A', '\u2028', 'é', '\u0000'];
    let seed = 7;
    const next = (n: number) => {
      seed = (seed * 48271) % 2147483647;
      return seed % n;
    };
    const word = () => Array.from({ length: 1 + next(4) }, () => alphabet[next(alphabet.length)]).join('');
    const value = (depth: number): unknown => {
      const kind = next(depth > 3 ? 2 : 4);
      if (kind === 0) return word();
      if (kind === 1) return next(10);
      if (kind === 2) return Array.from({ length: next(3) }, () => value(depth + 1));
      return Object.fromEntries(Array.from({ length: 1 + next(3) }, () => [word(), value(depth + 1)]));
    };
    let checked = 0;
    for (let b = 0; b < 2000; b++) {
      const body = { [word()]: value(0), [word()]: value(0) };
      const text = JSON.stringify(body, null, next(2) ? 1 : 0);
      const n = parsedKeys(JSON.parse(text) as unknown).size;
      expect(jsonShapeIssue(text, maxJsonDepth, n - 1), text).toBe('keys');
      expect(jsonShapeIssue(text, maxJsonDepth, n)).toBeUndefined();
      checked++;
    }
    expect(checked).toBe(2000);
  });

  it('a byte-order mark or a lone backslash at the end is not JSON: refused as body/json, whatever the scan counted', () => {
    expect(refusal(() => parseJsonBody('\ufeff{"a":1}'))).toEqual({ code: 'INVALID_REQUEST', field: 'body', rule: 'json' });
    expect(refusal(() => parseJsonBody('{"a\\'))).toEqual({ code: 'INVALID_REQUEST', field: 'body', rule: 'json' });
  });
});

describe('jsonShapeIssue: arrays and objects, and key orders (the eighth hostile review)', () => {
  const row = (keys: string[]) => `{${keys.map((k) => `"${k}":1.5`).join(',')}}`;
  const features = Array.from({ length: 256 }, (_, i) => `f${i}`);

  it(`takes ${maxJsonContainers} arrays and objects, and refuses one more before parsing (6 MB of {} cost ~0.4-0.8 s)`, () => {
    expect(jsonShapeIssue(`[${Array(maxJsonContainers - 1).fill('{}').join(',')}]`)).toBeUndefined();
    expect(jsonShapeIssue(`[${Array(maxJsonContainers).fill('{}').join(',')}]`)).toBe('containers');
    expect(jsonShapeIssue(`[${Array(maxJsonContainers / 4).fill('[[[[]]]]').join(',')}]`)).toBe('containers');
    expect(jsonShapeIssue(JSON.stringify(Array(100_000).fill('{}[]')))).toBeUndefined();
    expect(refusal(() => parseJsonBody(`[${Array(maxJsonContainers).fill('[]').join(',')}]`))).toEqual({ code: 'INVALID_REQUEST', field: 'body', rule: 'containers' });
  });

  it('objects of the same keys in one order share their key orders, however many there are', () => {
    expect(jsonShapeIssue(`[${Array(1000).fill(row(features)).join(',')}]`)).toBeUndefined();
  });

  it(`100 rows of 256 features, each in its own order (25,600 key orders), are taken; more than ${maxJsonShapes} are refused`, () => {
    const rotated = (r: number) => [...features.slice(r), ...features.slice(0, r)];
    expect(jsonShapeIssue(`{"inputs":[${Array.from({ length: 100 }, (_, r) => row(rotated(r))).join(',')}]}`)).toBeUndefined();
    expect(jsonShapeIssue(`[${Array.from({ length: 129 }, (_, r) => row(rotated(r))).join(',')}]`)).toBe('shapes');
  });

  it('objects of a few keys drawn from under 2,048 in random orders are refused as body/shapes before parsing', () => {
    let seed = 11;
    const pick = () => {
      seed = (seed * 48271) % 2147483647;
      return `k${seed % 2000}`;
    };
    const text = `[${Array.from({ length: 5000 }, () => row(Array.from({ length: 8 }, pick))).join(',')}]`;
    expect(parsedKeys(JSON.parse(text) as unknown).size).toBeLessThanOrEqual(maxJsonKeys);
    expect(jsonShapeIssue(text)).toBe('shapes');
    expect(refusal(() => parseJsonBody(text))).toEqual({ code: 'INVALID_REQUEST', field: 'body', rule: 'shapes' });
  });

  it('a key repeated in one object extends its order: a million duplicates are refused, not parsed', () => {
    expect(jsonShapeIssue(`{${Array(maxJsonShapes).fill('"a":1').join(',')}}`)).toBeUndefined();
    expect(jsonShapeIssue(`{${Array(maxJsonShapes + 1).fill('"a":1').join(',')}}`)).toBe('shapes');
  });
});

describe('illFormedStringPath', () => {
  it('names the first value or key holding a lone surrogate; pairs are well-formed', () => {
    expect(illFormedStringPath({ a: ['ok', { b: 'x\ud800' }] })).toBe('a.1.b');
    expect(illFormedStringPath({ ['\udc00k']: 1 })).toBe('\udc00k');
    expect(illFormedStringPath('\ud800')).toBe('body');
    expect(illFormedStringPath({ a: '\u{1f680}', b: [1, null, true] })).toBeUndefined();
  });
});

describe('parseJsonBody', () => {
  it(`parses ${maxJsonDepth} deep, refuses one more (body/depth), and refuses bad JSON (body/json)`, () => {
    expect(parseJsonBody('['.repeat(maxJsonDepth) + ']'.repeat(maxJsonDepth))).toBeInstanceOf(Array);
    expect(refusal(() => parseJsonBody('['.repeat(maxJsonDepth + 1) + ']'.repeat(maxJsonDepth + 1)))).toEqual({ code: 'INVALID_REQUEST', field: 'body', rule: 'depth' });
    expect(refusal(() => parseJsonBody('{"a":'))).toEqual({ code: 'INVALID_REQUEST', field: 'body', rule: 'json' });
  });

  it('refuses an escaped lone surrogate naming its field (unicode); an escaped pair and an escaped backslash before "ud800" pass', () => {
    expect(refusal(() => parseJsonBody('{"rows":[{"name":"\\ud800"}]}'))).toEqual({ code: 'INVALID_REQUEST', field: 'rows.0.name', rule: 'unicode' });
    expect(parseJsonBody('{"name":"\\ud83d\\ude80"}')).toEqual({ name: '\u{1f680}' });
    expect(parseJsonBody('{"name":"\\\\ud800"}')).toEqual({ name: '\\ud800' });
  });
});

describe('bodyText', () => {
  const source = (over: Partial<Parameters<typeof bodyText>[0]>) => ({ body: '{}', contentType: 'application/json', contentEncoding: undefined, ...over });

  it('takes UTF-8 in any spelling and no body at all', () => {
    for (const contentType of ['application/json', 'application/json; charset=utf-8', 'application/json;charset="UTF-8"', 'application/json; CHARSET=utf8']) expect(bodyText(source({ contentType }))).toBe('{}');
    expect(bodyText(source({ body: '' }))).toBeUndefined();
    expect(bodyText(source({ body: Buffer.from('{"é":1}').toString('base64'), isBase64Encoded: true }))).toBe('{"é":1}');
    expect(bodyText(source({ contentEncoding: 'identity' }))).toBe('{}');
  });

  it('refuses another charset (415 content-type/charset), any coding (415 content-encoding/identity), bytes that are not UTF-8 (400 body/utf8)', () => {
    expect(refusal(() => bodyText(source({ contentType: 'application/json; charset=utf-16' })))).toEqual({ code: 'UNSUPPORTED_MEDIA_TYPE', field: 'content-type', rule: 'charset' });
    expect(refusal(() => bodyText(source({ contentEncoding: 'gzip' })))).toEqual({ code: 'UNSUPPORTED_MEDIA_TYPE', field: 'content-encoding', rule: 'identity' });
    expect(refusal(() => bodyText(source({ body: Buffer.from([0x7b, 0xff, 0x7d]).toString('base64'), isBase64Encoded: true })))).toEqual({ code: 'INVALID_REQUEST', field: 'body', rule: 'utf8' });
  });

  it('counts a base64 body by the bytes it decodes to, padding excluded (the eighth hostile review: it was counted up to 2 bytes over)', () => {
    for (let n = 0; n < 300; n++) expect(base64Bytes(Buffer.alloc(n, 0xff).toString('base64'))).toBe(n);
    const bad = (n: number) => Buffer.alloc(n, 0xff).toString('base64');
    // 64 KB is not a multiple of 3: its base64 ends in one '='; at the limit the body is read (and refused as not UTF-8).
    expect(refusal(() => bodyText(source({ body: bad(65_536), isBase64Encoded: true, maxBytes: 65_536 })))).toEqual({ code: 'INVALID_REQUEST', field: 'body', rule: 'utf8' });
    expect(refusal(() => bodyText(source({ body: bad(65_537), isBase64Encoded: true, maxBytes: 65_536 })))).toEqual({ code: 'PAYLOAD_TOO_LARGE', field: 'body', rule: 'max_bytes' });
  });
});
