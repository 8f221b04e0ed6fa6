process.env.ORT_DISABLE_TELEMETRY = '1';
const ort = (await import('onnxruntime-node')).default ?? await import('onnxruntime-node');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const sessions = {};
for (const spin of ['default', '0']) {
  const extra = spin === 'default' ? {} : { session: { 'intra_op.allow_spinning': '0', 'inter_op.allow_spinning': '0' } };
  sessions[spin] = await ort.InferenceSession.create('models/reactor-yield/1.0.0/model.onnx', { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all', extra });
}
const res = { default: [], '0': [], none: [] };
for (let rep = 0; rep < 6; rep++) for (const spin of ['default', '0', 'none']) {
  const s = sessions[spin];
  const run = s ? () => s.run({ [s.inputNames[0]]: new ort.Tensor('float32', Float32Array.from([360, 6, 100]), [1, 3]) }) : async () => {};
  const c0 = process.cpuUsage();
  for (let i = 0; i < 200; i++) { await run(); await sleep(2); }
  const c = process.cpuUsage(c0);
  res[spin].push(Math.round((c.user + c.system) / 200));
}
console.log(res);
