/**
 * A strict reader of ONNX `ModelProto` bytes (protobuf wire format) for the graph check
 * (functions/core/models/graph-check.ts). It answers a view of the model (the fields the check reads, shaped
 * as onnx-proto's decoded objects) ONLY when the bytes say one thing to every protobuf parser, so that
 * onnxruntime (protobuf C++) can be given the very bytes that were checked; otherwise `undefined`, and the
 * check takes its general path (decode with onnx-proto, check, re-encode). The bytes are unambiguous when:
 *
 * - every field is one the schema below knows (ONNX 1.10, as onnx-proto decodes it; later ONNX versions only
 *   add fields), with the wire type the schema gives it (packed or not, for repeated numbers);
 * - no singular field appears twice (C++ merges a repeated sub-message and keeps the last scalar; onnx-proto
 *   keeps the last of both), and no oneof has two members;
 * - every string is valid UTF-8 (kept byte for byte, BOM included), every enum value is one the schema names,
 *   every int32 is in range, every varint is at most 10 bytes, every length stays inside its message, and
 *   messages nest at most {@link maxNesting} deep.
 *
 * Under those conditions the message is fixed by the bytes (field order, packing and varint padding are
 * encoding choices that every parser reads alike), and it is the message the check sees. Repeated numbers
 * the check only counts (tree attributes, tensor data) are counted, not decoded: this is what makes the check
 * cheap enough to run at every load (docs/performance.md, "Cold start").
 */

import { onnxSchema as schema, type Field, type Kind, type MessageName } from './onnx-schema.js';

/** A 64-bit integer as onnx-proto gives it: a number, or a Long (whose toString is exact). */
export type Int64 = number | { toString(): string };

export interface TensorView {
  name?: string | null;
  dims?: readonly Int64[] | null;
  dataLocation?: number | null;
  externalData?: { readonly length: number } | null;
}
export interface SparseTensorView {
  values?: TensorView | null;
  indices?: TensorView | null;
  dims?: readonly Int64[] | null;
}
export interface DimensionView {
  dimValue?: Int64 | null;
  dimParam?: string | null;
}
export interface TensorTypeView {
  elemType?: number | null;
  shape?: { dim?: readonly DimensionView[] | null } | null;
}
export interface ValueInfoView {
  name?: string | null;
  type?: { tensorType?: TensorTypeView | null; sparseTensorType?: TensorTypeView | null } | null;
}
export interface AttributeView {
  name?: string | null;
  t?: TensorView | null;
  tensors?: readonly TensorView[] | null;
  sparseTensor?: SparseTensorView | null;
  sparseTensors?: readonly SparseTensorView[] | null;
  ints?: { readonly length: number } | null;
  floats?: { readonly length: number } | null;
  strings?: { readonly length: number } | null;
  g?: GraphView | null;
  graphs?: readonly GraphView[] | null;
}
export interface NodeView {
  name?: string | null;
  opType?: string | null;
  domain?: string | null;
  attribute?: readonly AttributeView[] | null;
}
export interface GraphView {
  node?: readonly NodeView[] | null;
  initializer?: readonly TensorView[] | null;
  sparseInitializer?: readonly SparseTensorView[] | null;
  input?: readonly ValueInfoView[] | null;
  output?: readonly ValueInfoView[] | null;
  valueInfo?: readonly ValueInfoView[] | null;
}
/** What the graph check reads of a model: onnx-proto's `ModelProto` is one, and so is {@link readUnambiguousModel}'s answer. */
export interface ModelView {
  irVersion?: Int64 | null;
  opsetImport?: readonly { domain?: string | null; version?: Int64 | null }[] | null;
  graph?: GraphView | null;
  functions?: { readonly length: number } | null;
  trainingInfo?: readonly { initialization?: GraphView | null; algorithm?: GraphView | null }[] | null;
}

/** Deeper nesting is left to the general path (protobuf C++ refuses beyond 100 by default). */
export const maxNesting = 100;

const enum Wire {
  Varint = 0,
  Fixed64 = 1,
  Len = 2,
  Fixed32 = 5,
}

function wireOf(kind: Kind): Wire {
  switch (kind) {
    case 'float':
      return Wire.Fixed32;
    case 'double':
      return Wire.Fixed64;
    case 'string':
    case 'bytes':
    case 'message':
      return Wire.Len;
    default:
      return Wire.Varint;
  }
}

/** Thrown inside the reader; never leaves this module. */
class Ambiguous extends Error {}
const ambiguous = new Ambiguous();

/** Kept byte for byte: `fatal` refuses what is not UTF-8, `ignoreBOM` keeps a leading BOM in the string. */
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

const twoTo32 = 4294967296;

/** Defaults as onnx-proto's prototypes give them: 0 / '' for scalars, null for messages and oneof members, [] for lists. */
function defaults(fields: ReadonlyMap<number, Field>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of fields.values()) {
    if (f.repeated) out[f.name] = f.repeated === 'count' ? { length: 0 } : [];
    else if (f.oneof || f.kind === 'message') out[f.name] = null;
    else if (f.kind === 'string') out[f.name] = '';
    else if (f.kind !== 'bytes') out[f.name] = 0;
  }
  return out;
}

class Reader {
  pos = 0;
  /** The last varint's high 32 bits (its low 32 bits are the return value). */
  private hi = 0;

  constructor(private readonly buf: Uint8Array) {}

  /** A varint of at most 10 bytes inside `end`; returns the low 32 bits (unsigned), leaves the high in `hi`. */
  private varint(end: number): number {
    const b = this.buf;
    let lo = 0;
    let hi = 0;
    for (let shift = 0; shift < 28; shift += 7) {
      if (this.pos >= end) throw ambiguous;
      const byte = b[this.pos++]!;
      lo |= (byte & 0x7f) << shift;
      if (byte < 0x80) {
        this.hi = 0;
        return lo >>> 0;
      }
    }
    if (this.pos >= end) throw ambiguous;
    let byte = b[this.pos++]!;
    lo |= (byte & 0x7f) << 28;
    hi = (byte & 0x7f) >>> 4;
    if (byte < 0x80) {
      this.hi = hi;
      return lo >>> 0;
    }
    for (let shift = 3; shift < 38; shift += 7) {
      if (this.pos >= end) throw ambiguous;
      byte = b[this.pos++]!;
      // The tenth byte carries bit 63 only.
      if (shift === 31 && byte > 1) throw ambiguous;
      hi |= (byte & 0x7f) << shift;
      if (byte < 0x80) {
        this.hi = hi >>> 0;
        return lo >>> 0;
      }
    }
    throw ambiguous;
  }

  /** A tag or a length: a varint that fits in 31 bits (protobuf C++ refuses longer lengths). */
  small(end: number): number {
    const v = this.varint(end);
    if (this.hi !== 0 || v > 0x7fffffff) throw ambiguous;
    return v;
  }

  /** A signed 64-bit varint as a number (rounded to the nearest double beyond 2^53, as Number(Long.toString()) is). */
  int64(end: number): number {
    const lo = this.varint(end);
    return (this.hi | 0) * twoTo32 + lo;
  }

  /** An int32 varint: only the values protobuf C++ and onnx-proto read alike (in range; negatives sign-extended). */
  int32(end: number): number {
    const lo = this.varint(end);
    if (this.hi === 0 ? lo > 0x7fffffff : this.hi !== 0xffffffff || lo <= 0x7fffffff) throw ambiguous;
    return lo | 0;
  }

  /** `n` bytes inside `end`. */
  skip(n: number, end: number): void {
    if (n > end - this.pos) throw ambiguous;
    this.pos += n;
  }

  string(end: number): string {
    const length = this.small(end);
    const start = this.pos;
    this.skip(length, end);
    try {
      return utf8.decode(this.buf.subarray(start, this.pos));
    } catch {
      throw ambiguous;
    }
  }

  /** One element of a numeric field, checked and returned (list) or skipped (count). */
  number(kind: Kind, end: number, values?: ReadonlySet<number>): number {
    switch (kind) {
      case 'int32':
        return this.int32(end);
      case 'enum': {
        const v = this.int32(end);
        if (!values!.has(v)) throw ambiguous;
        return v;
      }
      case 'int64':
      case 'uint64':
        return this.int64(end);
      case 'float':
        this.skip(4, end);
        return 0;
      default:
        this.skip(8, end);
        return 0;
    }
  }

  message(name: MessageName, end: number, depth: number): Record<string, unknown> {
    if (depth > maxNesting) throw ambiguous;
    const fields = schema[name];
    const out = defaults(fields);
    const seen = new Set<number>();
    const oneofs = new Set<string>();
    while (this.pos < end) {
      const tagStart = this.pos;
      const tag = this.small(end);
      const number = tag >>> 3;
      const wire = tag & 7;
      const field = fields.get(number);
      if (!field) throw ambiguous;
      const expected = wireOf(field.kind);
      if (!field.repeated) {
        if (wire !== expected || seen.has(number)) throw ambiguous;
        seen.add(number);
        if (field.oneof) {
          if (oneofs.has(field.oneof)) throw ambiguous;
          oneofs.add(field.oneof);
        }
        out[field.name] = this.value(field, end, depth);
      } else if (wire === expected) {
        if (field.repeated === 'count') (out[field.name] as { length: number }).length += this.countRun(field, tagStart, end);
        else (out[field.name] as unknown[]).push(this.value(field, end, depth));
      } else if (wire === Wire.Len && expected !== Wire.Len) {
        // A packed run of numbers.
        const length = this.small(end);
        if (length > end - this.pos) throw ambiguous;
        const stop = this.pos + length;
        const list = field.repeated === 'list' ? (out[field.name] as number[]) : undefined;
        let n = 0;
        if (expected === Wire.Fixed32 || expected === Wire.Fixed64) {
          const size = expected === Wire.Fixed32 ? 4 : 8;
          if (length % size !== 0) throw ambiguous;
          n = length / size;
          this.pos = stop;
        } else if (list) {
          while (this.pos < stop) list.push(this.number(field.kind, stop, field.values)), n++;
        } else {
          n = this.countVarints(field.kind, stop);
        }
        if (!list) (out[field.name] as { length: number }).length += n;
      } else {
        throw ambiguous;
      }
    }
    if (this.pos !== end) throw ambiguous;
    return out;
  }

  /**
   * An unpacked element of a counted field (its tag at `tagStart`, already read) and the elements right after
   * it with the same tag: proto2 writes `ints` and `floats` of a tree ensemble this way, tens of thousands.
   */
  private countRun(field: Field, tagStart: number, end: number): number {
    const b = this.buf;
    const tagLength = this.pos - tagStart;
    // Inline for 64-bit varints (checked for length only), fixed-size numbers and byte strings: the loop
    // runs tens of thousands of times in the interpreter on a cold start.
    const kind = field.kind;
    const fixed = kind === 'float' ? 4 : kind === 'double' ? 8 : 0;
    let n = 0;
    for (;;) {
      if (kind === 'int64' || kind === 'uint64') {
        let run = 0;
        for (;;) {
          if (this.pos >= end) throw ambiguous;
          const byte = b[this.pos++]!;
          if (++run === 10 && byte > 1) throw ambiguous;
          if (byte < 0x80) break;
        }
      } else if (fixed !== 0) {
        if (end - this.pos < fixed) throw ambiguous;
        this.pos += fixed;
      } else if (kind === 'bytes' && this.pos < end && b[this.pos]! < 0x80) {
        // A length under 128 in one byte; longer ones take the general path.
        const length = b[this.pos++]!;
        if (end - this.pos < length) throw ambiguous;
        this.pos += length;
      } else {
        this.value(field, end, 0);
      }
      n++;
      if (end - this.pos < tagLength) return n;
      for (let i = 0; i < tagLength; i++) if (b[this.pos + i] !== b[tagStart + i]) return n;
      this.pos += tagLength;
    }
  }

  /** Varints in [pos, stop): each at most 10 bytes (int32 elements checked in range). */
  private countVarints(kind: Kind, stop: number): number {
    if (kind === 'int32' || kind === 'enum') {
      let n = 0;
      while (this.pos < stop) this.number(kind, stop), n++;
      return n;
    }
    const b = this.buf;
    let n = 0;
    let run = 0;
    for (let i = this.pos; i < stop; i++) {
      const byte = b[i]!;
      run++;
      if (byte < 0x80) {
        // The tenth byte carries bit 63 only.
        if (run === 10 && byte > 1) throw ambiguous;
        n++;
        run = 0;
      } else if (run === 10) {
        throw ambiguous;
      }
    }
    if (run !== 0) throw ambiguous;
    this.pos = stop;
    return n;
  }

  private value(field: Field, end: number, depth: number): unknown {
    switch (field.kind) {
      case 'message': {
        const length = this.small(end);
        const stop = this.pos + length;
        if (length > end - this.pos) throw ambiguous;
        return this.message(field.message!, stop, depth + 1);
      }
      case 'string':
        return this.string(end);
      case 'bytes':
        this.skip(this.small(end), end);
        return undefined;
      default:
        return this.number(field.kind, end, field.values);
    }
  }
}

/**
 * The model the bytes encode, when they encode exactly one whatever the parser (see the module comment);
 * `undefined` when they do not, or are not a ModelProto at all.
 */
export function readUnambiguousModel(bytes: Uint8Array): ModelView | undefined {
  try {
    return new Reader(bytes).message('Model', bytes.length, 0) as ModelView;
  } catch (error) {
    if (error === ambiguous) return undefined;
    // A stack overflow is not possible within maxNesting; anything else is a bug worth seeing.
    throw error;
  }
}
