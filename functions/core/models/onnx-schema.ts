/**
 * The ONNX schema the strict reader (./onnx-wire.ts) reads: onnx.proto as of ONNX 1.10, the version onnx-proto 8
 * decodes, every field of every message a ModelProto can hold, by number. Later ONNX versions only add fields
 * (and never reuse a number), so a field missing here is one this reader refuses to vouch for.
 */

/**
 * How a field is read. Repeated fields: `list` keeps every element (numbers, strings, messages), `count` keeps
 * how many there are (an object with `length`), after checking each is well formed.
 */
export type Kind = 'int32' | 'enum' | 'int64' | 'uint64' | 'float' | 'double' | 'string' | 'bytes' | 'message';
export interface Field {
  name: string;
  kind: Kind;
  repeated?: 'list' | 'count';
  message?: MessageName;
  oneof?: string;
  values?: ReadonlySet<number>;
}
export type MessageName =
  | 'Model'
  | 'OperatorSetId'
  | 'StringStringEntry'
  | 'TrainingInfo'
  | 'Function'
  | 'Graph'
  | 'Node'
  | 'Attribute'
  | 'Tensor'
  | 'Segment'
  | 'SparseTensor'
  | 'ValueInfo'
  | 'TensorAnnotation'
  | 'Type'
  | 'TypeTensor'
  | 'TypeSequence'
  | 'TypeMap'
  | 'TypeOptional'
  | 'TensorShape'
  | 'Dimension';

const str = (name: string, oneof?: string): Field => ({ name, kind: 'string', ...(oneof ? { oneof } : {}) });
const strs = (name: string): Field => ({ name, kind: 'string', repeated: 'list' });
const msg = (name: string, message: MessageName, oneof?: string): Field => ({ name, kind: 'message', message, ...(oneof ? { oneof } : {}) });
const msgs = (name: string, message: MessageName): Field => ({ name, kind: 'message', message, repeated: 'list' });
const counted = (name: string, kind: Kind): Field => ({ name, kind, repeated: 'count' });

/** TensorProto.DataLocation and AttributeProto.AttributeType as ONNX 1.10 names them. */
const dataLocations: ReadonlySet<number> = new Set([0, 1]);
const attributeTypes: ReadonlySet<number> = new Set([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]);

/** onnx.proto (ONNX 1.10, the schema onnx-proto 8 decodes), every field by number. */
export const onnxSchema: Record<MessageName, ReadonlyMap<number, Field>> = {
  Model: new Map([
    [1, { name: 'irVersion', kind: 'int64' }],
    [8, msgs('opsetImport', 'OperatorSetId')],
    [2, str('producerName')],
    [3, str('producerVersion')],
    [4, str('domain')],
    [5, { name: 'modelVersion', kind: 'int64' }],
    [6, str('docString')],
    [7, msg('graph', 'Graph')],
    [14, msgs('metadataProps', 'StringStringEntry')],
    [20, msgs('trainingInfo', 'TrainingInfo')],
    [25, msgs('functions', 'Function')],
  ]),
  OperatorSetId: new Map([
    [1, str('domain')],
    [2, { name: 'version', kind: 'int64' }],
  ]),
  StringStringEntry: new Map([
    [1, str('key')],
    [2, str('value')],
  ]),
  TrainingInfo: new Map([
    [1, msg('initialization', 'Graph')],
    [2, msg('algorithm', 'Graph')],
    [3, msgs('initializationBinding', 'StringStringEntry')],
    [4, msgs('updateBinding', 'StringStringEntry')],
  ]),
  Function: new Map([
    [1, str('name')],
    [4, strs('input')],
    [5, strs('output')],
    [6, strs('attribute')],
    [7, msgs('node', 'Node')],
    [8, str('docString')],
    [9, msgs('opsetImport', 'OperatorSetId')],
    [10, str('domain')],
  ]),
  Graph: new Map([
    [1, msgs('node', 'Node')],
    [2, str('name')],
    [5, msgs('initializer', 'Tensor')],
    [15, msgs('sparseInitializer', 'SparseTensor')],
    [10, str('docString')],
    [11, msgs('input', 'ValueInfo')],
    [12, msgs('output', 'ValueInfo')],
    [13, msgs('valueInfo', 'ValueInfo')],
    [14, msgs('quantizationAnnotation', 'TensorAnnotation')],
  ]),
  Node: new Map([
    [1, strs('input')],
    [2, strs('output')],
    [3, str('name')],
    [4, str('opType')],
    [7, str('domain')],
    [5, msgs('attribute', 'Attribute')],
    [6, str('docString')],
  ]),
  Attribute: new Map([
    [1, str('name')],
    [21, str('refAttrName')],
    [13, str('docString')],
    [20, { name: 'type', kind: 'enum', values: attributeTypes }],
    [2, { name: 'f', kind: 'float' }],
    [3, { name: 'i', kind: 'int64' }],
    [4, { name: 's', kind: 'bytes' }],
    [5, msg('t', 'Tensor')],
    [6, msg('g', 'Graph')],
    [22, msg('sparseTensor', 'SparseTensor')],
    [14, msg('tp', 'Type')],
    [7, counted('floats', 'float')],
    [8, counted('ints', 'int64')],
    [9, counted('strings', 'bytes')],
    [10, msgs('tensors', 'Tensor')],
    [11, msgs('graphs', 'Graph')],
    [23, msgs('sparseTensors', 'SparseTensor')],
    [15, msgs('typeProtos', 'Type')],
  ]),
  Tensor: new Map([
    [1, { name: 'dims', kind: 'int64', repeated: 'list' }],
    [2, { name: 'dataType', kind: 'int32' }],
    [3, msg('segment', 'Segment')],
    [4, counted('floatData', 'float')],
    [5, counted('int32Data', 'int32')],
    [6, counted('stringData', 'bytes')],
    [7, counted('int64Data', 'int64')],
    [8, str('name')],
    [12, str('docString')],
    [9, { name: 'rawData', kind: 'bytes' }],
    [13, msgs('externalData', 'StringStringEntry')],
    [14, { name: 'dataLocation', kind: 'enum', values: dataLocations }],
    [10, counted('doubleData', 'double')],
    [11, counted('uint64Data', 'uint64')],
  ]),
  Segment: new Map([
    [1, { name: 'begin', kind: 'int64' }],
    [2, { name: 'end', kind: 'int64' }],
  ]),
  SparseTensor: new Map([
    [1, msg('values', 'Tensor')],
    [2, msg('indices', 'Tensor')],
    [3, { name: 'dims', kind: 'int64', repeated: 'list' }],
  ]),
  ValueInfo: new Map([
    [1, str('name')],
    [2, msg('type', 'Type')],
    [3, str('docString')],
  ]),
  TensorAnnotation: new Map([
    [1, str('tensorName')],
    [2, msgs('quantParameterTensorNames', 'StringStringEntry')],
  ]),
  Type: new Map([
    [1, msg('tensorType', 'TypeTensor', 'value')],
    [4, msg('sequenceType', 'TypeSequence', 'value')],
    [5, msg('mapType', 'TypeMap', 'value')],
    [9, msg('optionalType', 'TypeOptional', 'value')],
    [8, msg('sparseTensorType', 'TypeTensor', 'value')],
    [6, str('denotation')],
  ]),
  // TypeProto.Tensor and TypeProto.SparseTensor have the same fields.
  TypeTensor: new Map([
    [1, { name: 'elemType', kind: 'int32' }],
    [2, msg('shape', 'TensorShape')],
  ]),
  TypeSequence: new Map([[1, msg('elemType', 'Type')]]),
  TypeMap: new Map([
    [1, { name: 'keyType', kind: 'int32' }],
    [2, msg('valueType', 'Type')],
  ]),
  TypeOptional: new Map([[1, msg('elemType', 'Type')]]),
  TensorShape: new Map([[1, msgs('dim', 'Dimension')]]),
  Dimension: new Map([
    [1, { name: 'dimValue', kind: 'int64', oneof: 'value' }],
    [2, str('dimParam', 'value')],
    [3, str('denotation')],
  ]),
};
