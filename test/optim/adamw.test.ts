// AdamW and the schedule against hand-computed values of torch.optim.AdamW and MAE's lr_sched.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createReferenceBackend } from '../../src/backends/reference/reference_backend';
import { parameter, tensor } from '../../src/ops';
import { AdamW, clipGradNorm } from '../../src/optim/adamw';
import { pretrainParamGroups } from '../../src/optim/param_groups';
import { lrAt } from '../../src/optim/schedule';

const be = createReferenceBackend();

test('AdamW matches the torch.optim.AdamW update rule over two steps', () => {
  const p = parameter(tensor(be, new Float64Array([1, -2]), [2]));
  const opt = new AdamW([{ name: 'g', params: [{ name: 'p', tensor: p }], lrScale: 0.5, weightDecay: 0.1 }], { beta1: 0.9, beta2: 0.95, eps: 1e-8 });
  const grads = [[0.5, -1], [0.25, 2]];
  // reference computation, written out
  const x = [1, -2], m = [0, 0], v = [0, 0];
  const lr = 0.01 * 0.5;
  grads.forEach((g, t) => {
    p.grad = tensor(be, new Float64Array(g), [2]);
    opt.update(0.01);
    for (let i = 0; i < 2; i++) {
      x[i] -= lr * 0.1 * x[i];
      m[i] = 0.9 * m[i] + 0.1 * g[i];
      v[i] = 0.95 * v[i] + 0.05 * g[i] * g[i];
      const mh = m[i] / (1 - 0.9 ** (t + 1)), vh = v[i] / (1 - 0.95 ** (t + 1));
      x[i] -= lr * mh / (Math.sqrt(vh) + 1e-8);
    }
    const got = p.toArray();
    for (let i = 0; i < 2; i++) assert.ok(Math.abs(got[i] - x[i]) < 1e-12, `step ${t}: ${got[i]} vs ${x[i]}`);
  });
});

test('clipGradNorm scales to the max norm and reports the norm before clipping', () => {
  const p = parameter(tensor(be, new Float64Array([3, 4]), [2]));
  p.grad = tensor(be, new Float64Array([3, 4]), [2]);
  assert.equal(clipGradNorm([p], 1), 5);
  const g = p.grad.toArray();
  assert.ok(Math.abs(Math.hypot(g[0], g[1]) - 1) < 1e-5);
});

test('weight-decay groups: 1-D and biases exempt, the rest decayed', () => {
  const w = parameter(tensor(be, new Float32Array(4), [2, 2]));
  const b = parameter(tensor(be, new Float32Array(2), [2]));
  const pos = parameter(tensor(be, new Float32Array(4), [1, 2, 2]));
  const [noDecay, decay] = pretrainParamGroups([['fc.weight', w], ['fc.bias', b], ['absolute_pos_embed', pos]], 0.05);
  assert.deepEqual(noDecay.params.map((p) => p.name), ['fc.bias']);
  assert.deepEqual(decay.params.map((p) => p.name), ['fc.weight', 'absolute_pos_embed']);
  const [nd2] = pretrainParamGroups([['absolute_pos_embed', pos]], 0.05, ['absolute_pos_embed']);
  assert.deepEqual(nd2.params.map((p) => p.name), ['absolute_pos_embed']);
});

test('lrAt: linear warmup then half-cosine to min lr', () => {
  const s = { baseLr: 1, minLr: 0.1, warmupSteps: 10, totalSteps: 110 };
  assert.equal(lrAt(0, s), 0);
  assert.equal(lrAt(5, s), 0.5);
  assert.equal(lrAt(10, s), 1);
  assert.ok(Math.abs(lrAt(60, s) - 0.55) < 1e-12);
  assert.ok(Math.abs(lrAt(110, s) - 0.1) < 1e-12);
});
