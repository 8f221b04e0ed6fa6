import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import onnxProto, { type onnx as OnnxTypes } from 'onnx-proto';
import { describe, expect, it } from 'vitest';
import { maxNesting, readUnambiguousModel } from '../../functions/core/models/onnx-wire.js';
import { exportForestOnnx } from '../../models/tools/onnx-export.js';
import { expandTreeEnsemble } from '../../models/tools/package-model.js';
import { exportForestSkl2onnxStyle } from '../../models/tools/skl2onnx-export.js';
import { trainRandomForest } from '../../models/tools/forest.js';
import { latinHypercube } from '../../models/tools/lhs.js';
import { REACTOR_FEATURES } from '../../models/tools/reactor.js';
import { encodeGraph, FLOAT, hostileGraphs, linearGraph } from '../support/hostile-models.js';
import { smallForestPackage } from '../support/models.js';

const { onnx } = onnxProto;
const referenceBytes = new Uint8Array(readFileSync(join(import.meta.dirname, '..', '..', 'models', 'reactor-yield', '1.0.0', 'model.onnx')));

// A few protobuf wire-format pieces, to write what no encoder would.
function varint(value: bigint | number): number[] {
  let v = BigInt.asUintN(64, BigInt(value));
  const out: number[] = [];
  do {
    const low = Number(v & 0x7fn);
    v >>= 7n;
    out.push(v > 0n ? low | 0x80 : low);
  } while (v > 0n);
  return out;
}
const tag = (field: number, wire: number) => varint((field << 3) | wire);
const len = (field: number, payload: number[]) => [...tag(field, 2), ...varint(payload.length), ...payload];
const int = (field: number, value: bigint | number) => [...tag(field, 0), ...varint(value)];
const text = (field: number, value: string) => len(field, [...new TextEncoder().encode(value)]);
const bytes = (...parts: number[][]) => new Uint8Array(parts.flat());
const linear = () => encodeGraph(linearGraph());

/**
 * Every field of the view equals what onnx-proto decodes from the same bytes (its prototype defaults
 * included; 64-bit integers as numbers; counted lists by their length). Bytes fields are not in the view.
 */
function expectSame(view: unknown, decoded: unknown, path = 'model'): void {
  if (view === undefined) return;
  if (view === null || typeof view !== 'object') {
    const value = decoded !== null && typeof decoded === 'object' ? Number(String(decoded)) : decoded;
    expect(value, path).toEqual(view);
    return;
  }
  if (!Array.isArray(view) && 'length' in view && Object.keys(view).length === 1) {
    expect((decoded as unknown[]).length, path).toBe((view as { length: number }).length);
    return;
  }
  if (Array.isArray(view)) {
    expect((decoded as unknown[]).length, path).toBe(view.length);
    view.forEach((v, i) => expectSame(v, (decoded as unknown[])[i], `${path}[${i}]`));
    return;
  }
  for (const [key, value] of Object.entries(view)) expectSame(value, (decoded as Record<string, unknown>)[key], `${path}.${key}`);
}

function forests(): Uint8Array[] {
  const x = latinHypercube(120, REACTOR_FEATURES, 5).map((r) => r.map(Math.fround));
  const forest = trainRandomForest(x, x.map(([t]) => t! / 10), { nTrees: 3, maxDepth: 4, minSamplesLeaf: 3, maxFeatures: 3, seed: 5 });
  return [smallForestPackage('1.0.0').bytes, exportForestOnnx(forest), expandTreeEnsemble(exportForestSkl2onnxStyle(forest, { aggregate: 'SUM' }))];
}

describe('what our tools and protobuf encoders write is read unambiguously, as onnx-proto decodes it', () => {
  it('the reference model, the forests the tools export, the linear graph', () => {
    for (const model of [referenceBytes, ...forests(), linear()]) {
      const view = readUnambiguousModel(model);
      expect(view).toBeDefined();
      expectSame(view, onnx.ModelProto.decode(model));
    }
  });

  it.each(hostileGraphs().map((h) => [h.label, h.model] as const))('the hostile graph: %s', (_label, model) => {
    const encoded = encodeGraph(model);
    const view = readUnambiguousModel(encoded);
    expect(view).toBeDefined();
    expectSame(view, onnx.ModelProto.decode(encoded));
  });

  it('counts the tree attributes without decoding them (the reference forest: 136,998 ints, 31,618 floats, 21,072 strings)', () => {
    const node = readUnambiguousModel(referenceBytes)!.graph!.node![0]!;
    const sum = (key: 'ints' | 'floats' | 'strings') => node.attribute!.reduce((n, a) => n + (a[key]?.length ?? 0), 0);
    expect([sum('ints'), sum('floats'), sum('strings')]).toEqual([136_998, 31_618, 21_072]);
  });

  it('packed and unpacked repeated numbers, padded varints and any field order read alike', () => {
    const tensor = (dims: number[]) => [...text(8, 'W'), ...int(2, FLOAT), ...len(1, dims.flatMap((d) => varint(d))), ...len(4, [0, 0, 0x80, 0x3f, 0, 0, 0, 0x40])];
    const packed = bytes(len(7, len(5, tensor([2, 1]))), int(1, 8));
    const unpacked = bytes(int(1, 8), len(7, len(5, [...int(1, 2), ...text(8, 'W'), ...int(1, 1), ...int(2, FLOAT), ...tag(4, 5), 0, 0, 0x80, 0x3f, ...tag(4, 5), 0, 0, 0, 0x40])));
    const padded = bytes([...tag(1, 0), 0x88, 0x80, 0x00], len(7, len(5, tensor([2, 1]))));
    for (const model of [packed, unpacked, padded]) {
      const view = readUnambiguousModel(model)!;
      expect(view.irVersion).toBe(8);
      expect(view.graph!.initializer![0]).toMatchObject({ name: 'W', dims: [2, 1], floatData: { length: 2 } });
      expectSame(view, onnx.ModelProto.decode(model));
    }
  });

  it('64-bit integers keep their sign and size (negative dims are refused by the check, not lost here)', () => {
    const model = bytes(int(1, -1n), len(7, len(5, int(1, -3n))), len(8, int(2, 2n ** 40n)));
    const view = readUnambiguousModel(model)!;
    expect([view.irVersion, view.graph!.initializer![0]!.dims, view.opsetImport![0]!.version]).toEqual([-1, [-3], 2 ** 40]);
    expectSame(view, onnx.ModelProto.decode(model));
  });

  it('a leading byte-order mark stays in the name (onnxruntime sees it too: "\\uFEFFAdd" is not Add)', () => {
    const model = linearGraph();
    model.graph!.node![1]!.opType = '\uFEFFAdd';
    expect(readUnambiguousModel(encodeGraph(model))!.graph!.node![1]!.opType).toBe('\uFEFFAdd');
  });

  it('property: any model onnx-proto encodes from these parts reads as onnx-proto decodes it', () => {
    const name = fc.string({ unit: 'grapheme', maxLength: 12 });
    const dims = fc.array(fc.oneof(fc.integer({ min: -5, max: 1 << 20 }), fc.constant(2 ** 40)), { maxLength: 9 });
    const tensor = fc.record({ name, dims, dataType: fc.integer({ min: 0, max: 16 }), floatData: fc.array(fc.float({ noNaN: true }), { maxLength: 5 }), dataLocation: fc.constantFrom(0, 1) }, { requiredKeys: [] });
    const dim = fc.oneof(fc.record({ dimValue: fc.integer({ min: 0, max: 1000 }) }), fc.record({ dimParam: name }));
    const valueInfo = fc.record({ name, type: fc.record({ tensorType: fc.record({ elemType: fc.integer({ min: 0, max: 16 }), shape: fc.record({ dim: fc.array(dim, { maxLength: 4 }) }) }) }) }, { requiredKeys: [] });
    const attribute = fc.record({ name, type: fc.integer({ min: 0, max: 14 }), ints: fc.array(fc.integer(), { maxLength: 20 }), floats: fc.array(fc.float({ noNaN: true }), { maxLength: 20 }), t: tensor }, { requiredKeys: [] });
    const node = fc.record({ name, opType: name, domain: fc.constantFrom('', 'ai.onnx.ml', 'ai.onnx', 'com.microsoft'), input: fc.array(name, { maxLength: 3 }), attribute: fc.array(attribute, { maxLength: 3 }) }, { requiredKeys: [] });
    const graph = fc.record({ name, node: fc.array(node, { maxLength: 4 }), initializer: fc.array(tensor, { maxLength: 3 }), input: fc.array(valueInfo, { maxLength: 3 }), output: fc.array(valueInfo, { maxLength: 3 }) }, { requiredKeys: [] });
    const model = fc.record({ irVersion: fc.integer({ min: -2, max: 12 }), opsetImport: fc.array(fc.record({ domain: name, version: fc.integer({ min: 0, max: 30 }) }), { maxLength: 3 }), graph, docString: name }, { requiredKeys: [] });
    fc.assert(
      fc.property(model, (m) => {
        const encoded = encodeGraph(m as OnnxTypes.IModelProto);
        const view = readUnambiguousModel(encoded);
        expect(view).toBeDefined();
        expectSame(view, onnx.ModelProto.decode(encoded));
      }),
      { numRuns: 200 },
    );
  });
});

describe('ambiguous or malformed bytes are not read (the check then decodes and re-encodes them)', () => {
  const cases: [string, () => Uint8Array][] = [
    ['a field the schema does not know (a newer ONNX, or smuggled)', () => bytes([...linear()], len(99, [1, 2, 3]))],
    ['an unknown field inside a node', () => {
      const model = linearGraph();
      const node = onnx.NodeProto.encode(onnx.NodeProto.create(model.graph!.node![0]!)).finish();
      return bytes(int(1, 8), len(7, len(1, [...node, ...len(9, text(1, 'meta'))])));
    }],
    ['the graph twice (protobuf C++ merges the two, onnx-proto keeps the last)', () => bytes([...linear()], len(7, text(2, 'second')))],
    ['a singular number twice (irVersion)', () => bytes([...linear()], int(1, 8))],
    ['a known field with the wrong wire type', () => bytes(len(1, [8]))],
    ['a Dimension with both dim_value and dim_param (a oneof)', () => {
      const model = linearGraph();
      model.graph!.input![0]!.type!.tensorType!.shape!.dim![1] = { dimValue: 3, dimParam: 'F' };
      return encodeGraph(model);
    }],
    ['a TypeProto both tensor and sparse tensor (a oneof)', () => {
      const model = linearGraph();
      model.graph!.input![0]!.type!.sparseTensorType = { elemType: FLOAT };
      return encodeGraph(model);
    }],
    ['an operator name that is not UTF-8', () => bytes(int(1, 8), len(7, len(1, [...tag(4, 2), 3, 0xc1, 0x81, 0x64])))],
    ['a data_location the schema does not name', () => bytes(len(7, len(5, int(14, 2))))],
    ['an AttributeProto type the schema does not name', () => bytes(len(7, len(1, len(5, int(20, 15)))))],
    ['an int32 past its range (elem_type 2^32 + 1, read as 1 by a parser that truncates)', () => bytes(len(7, len(11, len(2, len(1, int(1, 2n ** 32n + 1n))))))],
    ['a varint of 11 bytes', () => bytes([...tag(1, 0), 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00])],
    ['a 10-byte varint carrying bits past 64', () => bytes([...tag(1, 0), 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02])],
    ['a varint run of counted ints past 10 bytes', () => bytes(len(7, len(1, len(5, [...tag(8, 0), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]))))],
    ['truncated bytes', () => linear().subarray(0, linear().length - 1)],
    ['a run of counted byte strings whose last is longer than its message', () => bytes(len(7, len(1, len(5, [...tag(9, 2), 1, 0x41, ...tag(9, 2), 5, 1, 2]))))],
    ['a run of unpacked floats whose last is cut short', () => bytes(len(7, len(1, len(5, [...tag(7, 5), 0, 0, 0, 0, ...tag(7, 5), 0, 0]))))],
    ['a sub-message longer than its parent', () => bytes(len(7, [...tag(1, 2), 50, 0]))],
    ['field number 0', () => bytes([0x00, 0x00])],
    ['a group (wire type 3)', () => bytes([...tag(1, 3), ...tag(1, 4)])],
    ['wire type 6', () => bytes(tag(1, 6))],
    ['packed floats whose length is not a multiple of 4', () => bytes(len(7, len(1, len(5, len(7, [0, 0, 0])))))],
    [`types nested deeper than ${maxNesting} messages`, () => {
      let type: number[] = len(1, int(1, FLOAT));
      for (let i = 0; i < maxNesting; i++) type = len(4, len(1, type));
      return bytes(len(7, len(11, len(2, type))));
    }],
  ];

  it.each(cases)('%s', (_label, make) => {
    expect(readUnambiguousModel(make())).toBeUndefined();
  });

  it('nesting up to the limit is read', () => {
    let type: number[] = len(1, int(1, FLOAT));
    for (let i = 0; i < (maxNesting - 6) / 2; i++) type = len(4, len(1, type));
    expect(readUnambiguousModel(bytes(len(7, len(11, len(2, type)))))).toBeDefined();
  });

  it('property: random bytes never throw, and what is read is what onnx-proto decodes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (random) => {
        const view = readUnambiguousModel(random);
        if (view) expectSame(view, onnx.ModelProto.decode(random));
      }),
      { numRuns: 2_000 },
    );
  });
});
