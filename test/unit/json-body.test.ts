import { describe, expect, it } from 'vitest';
import { AppError } from '../../functions/core/errors.js';
import { bodyText, illFormedStringPath, jsonShapeIssue, maxJsonDepth, maxJsonKeys, nestsDeeperThan, parseJsonBody } from '../../functions/core/json-body.js';

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
});
