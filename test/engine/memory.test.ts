// Long training loops must not grow memory: every step runs in a scope, freed storage returns to the pool, and
// after warm-up a step allocates nothing new.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCpuBackend } from '../../src/backends/cpu/cpu_backend';
import { backward } from '../../src/engine/autograd';
import { Rng } from '../../src/engine/random';
import { tidy } from '../../src/engine/scope';
import { InitContext } from '../../src/nn/init';
import { Linear } from '../../src/nn/layers';
import { crossEntropy, gelu, tensor } from '../../src/ops';
import { AdamW } from '../../src/optim/adamw';

test('a 2000-step AdamW loop on a small MLP keeps live buffers constant and RSS flat', () => {
  const backend = createCpuBackend({ threads: 1 });
  const ctx: InitContext = { backend, rng: new Rng(1) };
  const fc1 = new Linear(ctx, 64, 256), fc2 = new Linear(ctx, 256, 10);
  const params = [...fc1.namedParameters().map(([n, t]) => ({ name: 'fc1.' + n, tensor: t })), ...fc2.namedParameters().map(([n, t]) => ({ name: 'fc2.' + n, tensor: t }))];
  const opt = new AdamW([{ name: 'all', params, lrScale: 1, weightDecay: 0.01 }], { beta1: 0.9, beta2: 0.999, eps: 1e-8 });
  const rng = new Rng(2);
  const x = new Float32Array(32 * 64), labels = new Int32Array(32);
  const step = () => {
    rng.fillNormal(x);
    for (let i = 0; i < 32; i++) labels[i] = i % 10;
    const loss = tidy(() => {
      const l = crossEntropy(fc2.forward(gelu(fc1.forward(tensor(backend, x, [32, 64])))), tensor(backend, labels, [32], 'int32'));
      backward(l);
      return l.item();
    });
    opt.update(1e-3);
    opt.zeroGrad();
    return loss;
  };
  for (let i = 0; i < 200; i++) step();
  const buffersAfterWarmup = backend.liveBuffers();
  global.gc?.();
  const rssWarm = process.memoryUsage().rss;
  let last = 0;
  for (let i = 0; i < 1800; i++) last = step();
  global.gc?.();
  const rssEnd = process.memoryUsage().rss;
  assert.ok(Number.isFinite(last));
  assert.equal(backend.liveBuffers(), buffersAfterWarmup, 'live buffers grew: a tensor escaped its scope');
  assert.ok(rssEnd <= rssWarm * 1.1, `RSS grew from ${(rssWarm / 2 ** 20).toFixed(1)} MiB to ${(rssEnd / 2 ** 20).toFixed(1)} MiB`);
});
