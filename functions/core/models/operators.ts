/**
 * The operators a model package may use: standard ONNX operators of the ai.onnx and ai.onnx.ml domains,
 * listed by name. Anything else (another domain such as com.microsoft, a custom op, a model-local function)
 * is refused before onnxruntime loads the graph. docs/security.md explains the list.
 *
 * Some standard ai.onnx operators are left OFF on purpose ({@link refusedStandardOperators}): a tabular
 * regressor (what skl2onnx exports: trees, linear models, scalers, small MLPs) never needs them, and each
 * lets a graph make the server do unbounded work from one request.
 */

/** The default ONNX domain (`''`, also spelled `ai.onnx`). */
export const onnxDomain = '';
export const mlDomain = 'ai.onnx.ml';

/** Standard ai.onnx operators that are NOT allowed, and why. */
export const refusedStandardOperators: Readonly<Record<string, string>> = {
  Loop: 'runs a subgraph a data-dependent number of times',
  Scan: 'runs a subgraph once per element of a data-dependent sequence',
  SequenceMap: 'runs a subgraph once per sequence element',
  ConstantOfShape: 'allocates an output whose size is a tensor value',
  Expand: 'allocates an output whose size is a tensor value',
  Tile: 'allocates an output whose size is a tensor value',
  Range: 'allocates an output whose size is a tensor value',
  Resize: 'allocates an output whose size is a tensor value',
  Upsample: 'allocates an output whose size is a tensor value',
  Pad: 'allocates an output whose size is a tensor value',
  CenterCropPad: 'allocates an output whose size is a tensor value',
  OneHot: 'allocates an output whose size is a tensor value',
  Col2Im: 'allocates an output whose size is a tensor value',
  MelWeightMatrix: 'allocates an output whose size is a tensor value',
  BlackmanWindow: 'allocates an output whose size is a tensor value',
  HammingWindow: 'allocates an output whose size is a tensor value',
  HannWindow: 'allocates an output whose size is a tensor value',
  DFT: 'signal processing, not a tabular regressor',
  STFT: 'signal processing, not a tabular regressor',
  Bernoulli: 'random: a twin must answer the same inputs the same way',
  Multinomial: 'random: a twin must answer the same inputs the same way',
  RandomNormal: 'random: a twin must answer the same inputs the same way',
  RandomNormalLike: 'random: a twin must answer the same inputs the same way',
  RandomUniform: 'random: a twin must answer the same inputs the same way',
  RandomUniformLike: 'random: a twin must answer the same inputs the same way',
};

/** Standard ai.onnx operators that are allowed (ONNX operator list, opsets 1..21, minus the refused ones). */
const onnxOperators = [
  'Abs', 'Acos', 'Acosh', 'Add', 'And', 'ArgMax', 'ArgMin', 'Asin', 'Asinh', 'Atan', 'Atanh', 'AveragePool',
  'BatchNormalization', 'BitShift', 'BitwiseAnd', 'BitwiseNot', 'BitwiseOr', 'BitwiseXor', 'Cast', 'CastLike', 'Ceil',
  'Celu', 'Clip', 'Compress', 'Concat', 'ConcatFromSequence', 'Constant', 'Conv', 'ConvInteger', 'ConvTranspose', 'Cos',
  'Cosh', 'CumSum', 'DepthToSpace', 'DequantizeLinear', 'Det', 'Div', 'Dropout', 'DynamicQuantizeLinear', 'Einsum', 'Elu',
  'Equal', 'Erf', 'Exp', 'EyeLike', 'Flatten', 'Floor', 'GRU', 'Gather', 'GatherElements', 'GatherND', 'Gelu', 'Gemm',
  'GlobalAveragePool', 'GlobalLpPool', 'GlobalMaxPool', 'Greater', 'GreaterOrEqual', 'GridSample', 'GroupNormalization',
  'HardSigmoid', 'HardSwish', 'Hardmax', 'Identity', 'If', 'InstanceNormalization', 'IsInf', 'IsNaN', 'LRN', 'LSTM',
  'LayerNormalization', 'LeakyRelu', 'Less', 'LessOrEqual', 'Log', 'LogSoftmax', 'LpNormalization', 'LpPool', 'MatMul',
  'MatMulInteger', 'Max', 'MaxPool', 'MaxRoiPool', 'MaxUnpool', 'Mean', 'MeanVarianceNormalization', 'Min', 'Mish', 'Mod',
  'Mul', 'Neg', 'NegativeLogLikelihoodLoss', 'NonMaxSuppression', 'NonZero', 'Not', 'Optional', 'OptionalGetElement',
  'OptionalHasElement', 'Or', 'PRelu', 'Pow', 'QLinearConv', 'QLinearMatMul', 'QuantizeLinear', 'RNN', 'Reciprocal',
  'ReduceL1', 'ReduceL2', 'ReduceLogSum', 'ReduceLogSumExp', 'ReduceMax', 'ReduceMean', 'ReduceMin', 'ReduceProd',
  'ReduceSum', 'ReduceSumSquare', 'Relu', 'Reshape', 'ReverseSequence', 'RoiAlign', 'Round', 'Scatter', 'ScatterElements',
  'ScatterND', 'Selu', 'SequenceAt', 'SequenceConstruct', 'SequenceEmpty', 'SequenceErase', 'SequenceInsert',
  'SequenceLength', 'Shape', 'Shrink', 'Sigmoid', 'Sign', 'Sin', 'Sinh', 'Size', 'Slice', 'Softmax',
  'SoftmaxCrossEntropyLoss', 'Softplus', 'Softsign', 'SpaceToDepth', 'Split', 'SplitToSequence', 'Sqrt', 'Squeeze',
  'StringNormalizer', 'Sub', 'Sum', 'Tan', 'Tanh', 'TfIdfVectorizer', 'ThresholdedRelu', 'TopK', 'Transpose', 'Trilu',
  'Unique', 'Unsqueeze', 'Where', 'Xor',
] as const;

/** Standard ai.onnx.ml operators (opsets 1..5): all of them. */
const mlOperators = [
  'ArrayFeatureExtractor', 'Binarizer', 'CastMap', 'CategoryMapper', 'DictVectorizer', 'FeatureVectorizer', 'Imputer',
  'LabelEncoder', 'LinearClassifier', 'LinearRegressor', 'Normalizer', 'OneHotEncoder', 'SVMClassifier', 'SVMRegressor',
  'Scaler', 'TreeEnsemble', 'TreeEnsembleClassifier', 'TreeEnsembleRegressor', 'ZipMap',
] as const;

/** Domain -> allowed operator names. */
export const allowedOperators: ReadonlyMap<string, ReadonlySet<string>> = new Map([
  [onnxDomain, new Set<string>(onnxOperators)],
  [mlDomain, new Set<string>(mlOperators)],
]);
