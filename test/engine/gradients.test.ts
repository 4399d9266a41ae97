// Every differentiable op against central finite differences, float64, reference backend.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/engine/random';
import * as F from '../../src/ops';
import { tensor } from '../../src/ops';
import { gradCheck, randTensor, ref64 } from '../helpers';

const rng = new Rng(7);
const r = (...shape: number[]) => randTensor(ref64, shape, rng);
const pos = (...shape: number[]) => F.affine(F.abs(r(...shape)), 1, 0.5);

test('unary ops', () => {
  gradCheck('exp', F.exp, [r(3, 4)]);
  gradCheck('log', F.log, [pos(3, 4)]);
  gradCheck('sqrt', F.sqrt, [pos(5)]);
  gradCheck('rsqrt', F.rsqrt, [pos(5)]);
  gradCheck('tanh', F.tanh, [r(6)]);
  gradCheck('sigmoid', F.sigmoid, [r(6)]);
  gradCheck('gelu', F.gelu, [r(4, 5)]);
  gradCheck('quickGelu', F.quickGelu, [r(7)]);
  gradCheck('square', F.square, [r(7)]);
  gradCheck('affine', (x) => F.affine(x, -1.5, 0.25), [r(3)]);
  gradCheck('powScalar', (x) => F.powScalar(x, 2.5), [pos(4)]);
  gradCheck('clamp', (x) => F.clamp(x, -0.5, 0.5), [r(8)]);
  gradCheck('abs', F.abs, [r(8)]);
});

test('broadcasting binary ops', () => {
  gradCheck('add', F.add, [r(2, 3, 4), r(3, 1)]);
  gradCheck('sub', F.sub, [r(2, 1, 4), r(3, 4)]);
  gradCheck('mul', F.mul, [r(2, 3, 4), r(4)]);
  gradCheck('div', F.div, [r(2, 3), pos(2, 1)]);
  gradCheck('maximum', F.maximum, [r(3, 4), r(3, 4)]);
  gradCheck('where', (a, b) => F.where(tensor(ref64, new Float64Array([1, 0, 1, 0]), [4]), a, b), [r(2, 4), r(2, 4)]);
});

test('reductions', () => {
  gradCheck('sum axes', (x) => F.sum(x, [0, 2]), [r(2, 3, 4)]);
  gradCheck('sum keepdim', (x) => F.sum(x, 1, true), [r(2, 3, 4)]);
  gradCheck('mean', (x) => F.mean(x, -1), [r(3, 5)]);
  gradCheck('max', (x) => F.max(x, 1), [r(3, 5)]);
  gradCheck('variance', (x) => F.variance(x, -1, false, true), [r(3, 6)]);
});

test('matmul and linear', () => {
  gradCheck('matmul', (a, b) => F.matmul(a, b), [r(3, 4), r(4, 5)]);
  gradCheck('matmul batched', (a, b) => F.matmul(a, b), [r(2, 3, 4), r(2, 4, 5)]);
  gradCheck('matmul transA', (a, b) => F.matmul(a, b, true, false), [r(2, 4, 3), r(2, 4, 5)]);
  gradCheck('matmul transB', (a, b) => F.matmul(a, b, false, true), [r(2, 3, 4), r(2, 5, 4)]);
  gradCheck('matmul both', (a, b) => F.matmul(a, b, true, true), [r(4, 3), r(5, 4)]);
  gradCheck('matmul broadcast A', (a, b) => F.matmul(a, b), [r(3, 4), r(2, 4, 5)]);
  gradCheck('linear', F.linear, [r(2, 3, 4), r(5, 4), r(5)]);
  gradCheck('linear + residual', (x, w, b, res) => F.linear(x, w, b, res), [r(2, 3, 4), r(5, 4), r(5), r(2, 3, 5)]);
  gradCheck('mlp + residual', (x, w1, b1, w2, b2, res) => F.mlp(x, w1, b1, w2, b2, res), [r(2, 3, 4), r(6, 4), r(6), r(5, 6), r(5), r(2, 3, 5)]);
});

test('movement', () => {
  gradCheck('reshape', (x) => F.reshape(x, [4, -1]), [r(2, 3, 4)]);
  gradCheck('permute', (x) => F.permute(x, [2, 0, 1]), [r(2, 3, 4)]);
  gradCheck('slice', (x) => F.slice(x, 1, 1, 3), [r(2, 4, 3)]);
  gradCheck('slice step', (x) => F.slice(x, 2, 0, 5, 2), [r(2, 3, 5)]);
  gradCheck('concat', (a, b) => F.concat([a, b], 1), [r(2, 3, 2), r(2, 1, 2)]);
  gradCheck('stack', (a, b) => F.stack([a, b], 0), [r(2, 3), r(2, 3)]);
  gradCheck('pad', (x) => F.pad(x, [[0, 0], [1, 2]]), [r(2, 3)]);
  gradCheck('broadcastTo', (x) => F.broadcastTo(x, [3, 2, 4]), [r(2, 1)]);
});

test('indexing', () => {
  const ids = tensor(ref64, new Int32Array([2, 0, 0, 1, 3, 1]), [2, 3]);
  gradCheck('take batched', (x) => F.take(x, ids, 1), [r(2, 4, 3)]);
  const shared = tensor(ref64, new Int32Array([1, 1, 0]), [3]);
  gradCheck('take shared', (x) => F.take(x, shared, 0), [r(2, 5)]);
  gradCheck('scatter batched', (x) => F.scatter(x, ids, 1, 4), [r(2, 3, 2)]);
  gradCheck('scatter shared', (x) => F.scatter(x, shared, 0, 4), [r(3, 2)]);
});

test('softmax, log-softmax, layer norm', () => {
  gradCheck('softmax', F.softmax, [r(3, 5)]);
  gradCheck('logSoftmax', F.logSoftmax, [r(3, 5)]);
  gradCheck('layerNorm affine', (x, w, b) => F.layerNorm(x, w, b, 1e-6), [r(4, 6), r(6), r(6)]);
  gradCheck('layerNorm plain', (x) => F.layerNorm(x, null, null, 1e-5), [r(4, 6)]);
  // A pre-norm block's input z feeds the layer norm and, as the residual, the Linear after it: z's residual
  // gradient arrives first and the layer norm's backward adds into it in place (checked to happen).
  const kernels = ref64.kernels;
  const plain = kernels.layerNormBackward;
  let accumulated = 0;
  kernels.layerNormBackward = (...args: Parameters<typeof plain>) => {
    if (args[10]) accumulated++;
    plain.apply(kernels, args);
  };
  try {
    gradCheck('layerNorm + residual', (x, w, w2) => {
      const z = F.affine(x, 2, 0.5);
      return F.linear(F.layerNorm(z, w, null, 1e-6), w2, null, z);
    }, [r(4, 6), r(6), r(6, 6)]);
  } finally {
    kernels.layerNormBackward = plain;
  }
  assert.ok(accumulated > 0, 'the layer norm backward never accumulated into the residual gradient');
});

test('losses', () => {
  const labels = tensor(ref64, new Int32Array([1, 0, 3]), [3]);
  gradCheck('crossEntropy', (x) => F.crossEntropy(x, labels), [r(3, 4)]);
  gradCheck('crossEntropy smoothed', (x) => F.crossEntropy(x, labels, 0.1), [r(3, 4)]);
  const soft = F.softmax(r(3, 4));
  gradCheck('softTargetCE', (x) => F.softTargetCrossEntropy(x, soft), [r(3, 4)]);
  gradCheck('mse', F.mseLoss, [r(3, 4), r(3, 4)]);
  gradCheck('smoothL1', (a, b) => F.smoothL1Loss(a, b), [F.mulScalar(r(3, 4), 2), r(3, 4)]);
  gradCheck('cosine', (a, b) => F.cosineSimilarity(a, b), [r(3, 4), r(3, 4)]);
});

test('conv, pool, resize', () => {
  gradCheck('conv3x3', (x, w, b) => F.conv2d(x, w, b, { stride: 1, padding: 1 }), [r(1, 2, 4, 4), r(3, 2, 3, 3), r(3)]);
  gradCheck('conv patchify', (x, w, b) => F.conv2d(x, w, b, { stride: 2 }), [r(2, 2, 4, 4), r(3, 2, 2, 2), r(3)]);
  gradCheck('avgPool', F.avgPool2x2, [r(1, 2, 5, 4)]);
  gradCheck('maxPool', F.maxPool2x2, [r(1, 2, 4, 4)]);
  gradCheck('bicubic', (x) => F.resize2d(x, { mode: 'bicubic', scaleFactor: [1.6, 0.7] }), [r(1, 2, 4, 5)]);
  gradCheck('bilinear', (x) => F.resize2d(x, { mode: 'bilinear', size: [6, 3] }), [r(1, 2, 4, 5)]);
});
