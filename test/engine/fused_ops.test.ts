// Fused primitives against the composites they replace (STYLE §2.1: a fused op is kept only with a test against
// the composite): fused attention vs permute/slice/matmul/softmax, the one-GEMM linear vs matmul + bias add, the
// one-pass GELU backward vs gelu_grad · g. Forward values and input gradients, float64 on the reference backend
// (to ~1e-12) and float32 on the CPU backend (to 1e-5), plus finite-difference checks of the fused ops.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Backend } from '../../src/engine/backend';
import { backward } from '../../src/engine/autograd';
import { Rng } from '../../src/engine/random';
import { noGrad, tidy } from '../../src/engine/scope';
import { record, Tensor } from '../../src/engine/tensor';
import * as F from '../../src/ops';
import { createCpuBackend } from '../../src/backends/cpu/cpu_backend';
import { gradCheck, randTensor, ref64, relL2 } from '../helpers';

/** The composite attention this op replaces (timm Attention.forward). */
function attentionComposite(qkv: Tensor, heads: number, scale: number, bias: Tensor | null): Tensor {
  const [B, N, C3] = qkv.shape;
  const C = C3 / 3, D = C / heads;
  const p = F.permute(F.reshape(qkv, [B, N, 3, heads, D]), [2, 0, 3, 1, 4]); // [3, B, H, N, D]
  const q = F.mulScalar(F.reshape(F.slice(p, 0, 0, 1), [B, heads, N, D]), scale);
  const k = F.reshape(F.slice(p, 0, 1, 2), [B, heads, N, D]);
  const v = F.reshape(F.slice(p, 0, 2, 3), [B, heads, N, D]);
  let logits = F.matmul(q, k, false, true);
  if (bias) logits = F.add(logits, bias);
  return F.reshape(F.permute(F.matmul(F.softmax(logits), v), [0, 2, 1, 3]), [B, N, C]);
}

function linearComposite(x: Tensor, w: Tensor, b: Tensor | null): Tensor {
  const y = F.matmul(F.reshape(x, [-1, w.shape[1]]), w, false, true);
  return F.reshape(b ? F.add(y, b) : y, [...x.shape.slice(0, -1), w.shape[0]]);
}

/** Output and the gradients of Σ out⊙w for every input, from a fused op and its composite. */
function compare(name: string, fused: (...xs: Tensor[]) => Tensor, composite: (...xs: Tensor[]) => Tensor, inputs: Tensor[], tol: number): void {
  const run = (f: (...xs: Tensor[]) => Tensor) => tidy(() => {
    for (const x of inputs) { x.requiresGrad = true; x.grad = null; }
    const y = f(...inputs);
    const w = randTensor(y.backend, y.shape, new Rng(5), y.dtype as 'float32' | 'float64');
    backward(F.sum(F.mul(y, w)));
    const grads = inputs.map((x) => x.grad!.toArray());
    for (const x of inputs) { x.grad!.dispose(); x.grad = null; }
    return { y: y.toArray(), grads };
  });
  const a = run(fused), b = run(composite);
  const e = relL2(a.y, b.y);
  assert.ok(e <= tol, `${name}: forward rel L2 ${e}`);
  a.grads.forEach((g, i) => {
    const eg = relL2(g, b.grads[i]);
    assert.ok(eg <= tol, `${name}: grad of input ${i} rel L2 ${eg}`);
  });
}

function cases(be: Backend, dtype: 'float32' | 'float64', tol: number): void {
  const rng = new Rng(11);
  const r = (...shape: number[]) => randTensor(be, shape, rng, dtype);
  // attention: plain, shared bias (RPE, [1, H, N, N]), per-sample bias ([B, H, N, N], gathered RPE)
  compare('attention', (qkv) => F.attention(qkv, 3, 0.4), (qkv) => attentionComposite(qkv, 3, 0.4, null), [r(2, 5, 3 * 3 * 4)], tol);
  compare('attention shared bias', (qkv, b) => F.attention(qkv, 2, 0.5, b), (qkv, b) => attentionComposite(qkv, 2, 0.5, b),
    [r(3, 7, 3 * 2 * 3), r(1, 2, 7, 7)], tol);
  compare('attention per-sample bias', (qkv, b) => F.attention(qkv, 2, 0.5, b), (qkv, b) => attentionComposite(qkv, 2, 0.5, b),
    [r(2, 6, 3 * 2 * 5), r(2, 2, 6, 6)], tol);
  compare('attention ViT-size', (qkv) => F.attention(qkv, 4, 16 ** -0.5), (qkv) => attentionComposite(qkv, 4, 16 ** -0.5, null), [r(2, 49, 3 * 64)], tol);
  compare('linear', F.linear, linearComposite, [r(2, 3, 6), r(5, 6), r(5)], tol);
  compare('linear no bias', (x, w) => F.linear(x, w, null), (x, w) => linearComposite(x, w, null), [r(7, 6), r(4, 6)], tol);
  compare('linear + residual', (x, w, b, res) => F.linear(x, w, b, res), (x, w, b, res) => F.add(res, linearComposite(x, w, b)),
    [r(2, 3, 6), r(5, 6), r(5), r(2, 3, 5)], tol);
  compare('gelu', F.gelu, geluComposite, [r(4, 9)], tol);
  compare('mlp', F.mlp, (x, w1, b1, w2, b2) => F.linear(F.gelu(F.linear(x, w1, b1)), w2, b2), [r(2, 3, 5), r(8, 5), r(8), r(4, 8), r(4)], tol);
  compare('mlp no bias', (x, w1, w2) => F.mlp(x, w1, null, w2, null), (x, w1, w2) => F.linear(F.gelu(F.linear(x, w1, null)), w2, null),
    [r(6, 5), r(7, 5), r(3, 7)], tol);
  compare('mlp + residual', (x, w1, b1, w2, b2, res) => F.mlp(x, w1, b1, w2, b2, res),
    (x, w1, b1, w2, b2, res) => F.add(res, F.linear(F.gelu(F.linear(x, w1, b1)), w2, b2)), [r(2, 3, 5), r(8, 5), r(8), r(4, 8), r(4), r(2, 3, 4)], tol);
}

/** GELU with the two-kernel backward the fused geluBackward replaces: g ⊙ gelu_grad(x). */
function geluComposite(x: Tensor): Tensor {
  const unary = (op: 'gelu' | 'gelu_grad', t: Tensor) => {
    const out = Tensor.empty(t.backend, t.shape, t.dtype);
    t.backend.kernels.unary(op, t.storage, out.storage);
    return out;
  };
  return record(unary('gelu', x), 'geluComposite', [x], (g) => [F.mul(g, unary('gelu_grad', x))]);
}

test('fused ops match their composites (float64, reference backend)', () => {
  cases(ref64, 'float64', 1e-12);
});

test('fused ops match their composites (float32, cpu backend)', () => {
  cases(createCpuBackend(), 'float32', 1e-5);
});

test('fused ops: finite-difference gradients (float64, reference backend)', () => {
  const rng = new Rng(3);
  const r = (...shape: number[]) => randTensor(ref64, shape, rng);
  gradCheck('attention', (qkv) => F.attention(qkv, 2, 0.7), [r(2, 3, 3 * 2 * 2)]);
  gradCheck('attention shared bias', (qkv, b) => F.attention(qkv, 2, 0.7, b), [r(2, 3, 3 * 2 * 2), r(1, 2, 3, 3)]);
  gradCheck('attention per-sample bias', (qkv, b) => F.attention(qkv, 1, 0.7, b), [r(2, 4, 3 * 3), r(2, 1, 4, 4)]);
  gradCheck('linear', F.linear, [r(2, 3, 4), r(5, 4), r(5)]);
  gradCheck('linear no bias', (x, w) => F.linear(x, w, null), [r(3, 4), r(2, 4)]);
  gradCheck('gelu', F.gelu, [r(3, 5)]);
  gradCheck('mlp', F.mlp, [r(2, 2, 3), r(4, 3), r(4), r(3, 4), r(3)]);
});

test('mlp without autograd over row blocks (more rows than one block) matches the composite', () => {
  for (const be of [createCpuBackend(), ref64]) {
    const dtype = be === ref64 ? 'float64' : 'float32';
    const rng = new Rng(4);
    const [x, w1, b1, w2, b2] = [[3, 3001, 5], [7, 5], [7], [4, 7], [4]].map((s) => randTensor(be, s, rng, dtype));
    const y = noGrad(() => F.mlp(x, w1, b1, w2, b2));
    const want = noGrad(() => F.linear(F.gelu(F.linear(x, w1, b1)), w2, b2));
    assert.ok(relL2(y.toArray(), want.toArray()) < (dtype === 'float64' ? 1e-12 : 1e-6), `${be.name}: blocked mlp differs`);
    const y2 = noGrad(() => F.mlp(x, w1, null, w2, null));
    const want2 = noGrad(() => F.linear(F.gelu(F.linear(x, w1, null)), w2, null));
    assert.ok(relL2(y2.toArray(), want2.toArray()) < (dtype === 'float64' ? 1e-12 : 1e-6), `${be.name}: blocked mlp without biases differs`);
    for (const rows of [3001, 7]) { // several row blocks (residual added afterwards) and one (residual in the GEMM)
      const xs = F.slice(x, 1, 0, rows), res = randTensor(be, [3, rows, 4], rng, dtype);
      const y3 = noGrad(() => F.mlp(xs, w1, b1, w2, b2, res));
      const want3 = noGrad(() => F.add(res, F.linear(F.gelu(F.linear(xs, w1, b1)), w2, b2)));
      assert.ok(relL2(y3.toArray(), want3.toArray()) < (dtype === 'float64' ? 1e-12 : 1e-6), `${be.name}: mlp + residual (${rows} rows) differs`);
      [xs, res, y3, want3].forEach((t) => t.dispose());
    }
    [x, w1, b1, w2, b2, y, want, y2, want2].forEach((t) => t.dispose());
  }
});

test('mlp without autograd matches and keeps only its output', () => {
  const be = createCpuBackend();
  const rng = new Rng(9);
  const [x, w1, b1, w2, b2] = [[4, 6], [10, 6], [10], [5, 10], [5]].map((s) => randTensor(be, s, rng, 'float32'));
  const before = be.liveBuffers();
  const y = noGrad(() => F.mlp(x, w1, b1, w2, b2));
  assert.equal(be.liveBuffers(), before + 1, 'only the output should be live');
  const want = noGrad(() => F.linear(F.gelu(F.linear(x, w1, b1)), w2, b2));
  assert.ok(relL2(y.toArray(), want.toArray()) < 1e-6);
  [x, w1, b1, w2, b2, y, want].forEach((t) => t.dispose());
});

test('attention without autograd keeps no probabilities alive', () => {
  const be = createCpuBackend();
  const qkv = randTensor(be, [2, 5, 3 * 8], new Rng(1), 'float32');
  const before = be.liveBuffers();
  const out = noGrad(() => F.attention(qkv, 2, 0.5));
  assert.equal(be.liveBuffers(), before + 1, 'only the output should be live');
  out.dispose();
  qkv.dispose();
});
