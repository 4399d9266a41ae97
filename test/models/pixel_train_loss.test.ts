// The pixel model's training objective computed on the masked rows only (forwardTrainLoss) gives forward()'s loss
// and the same gradient for every parameter; AttentionBlock with `rows` equals the full block's output at those rows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/engine/random';
import { backward } from '../../src/engine/autograd';
import type { Backend } from '../../src/engine/backend';
import { createCpuBackend } from '../../src/backends/cpu/cpu_backend';
import { createReferenceBackend } from '../../src/backends/reference/reference_backend';
import { mul, sum, take, tensor } from '../../src/ops';
import { taskConfig } from '../../src/models/itpn/factory';
import { AttentionBlock } from '../../src/models/itpn/layers';
import { ITPNMaskedAutoencoder, maskingNoise, randomMasking } from '../../src/models/itpn/pixel_mim';
import { randTensor, relL2 } from '../helpers';

test('randomMasking: idsMasked lists the removed tokens (mask = 1), disjoint from idsKeep, in shuffle order', () => {
  const ref = createReferenceBackend();
  const rng = new Rng(5);
  const [B, N] = [3, 16];
  const m = randomMasking(maskingNoise(ref, B, N, () => rng.uniform()), 0.75);
  assert.deepEqual(m.idsMasked.shape, [B, 12]);
  const keep = m.idsKeep.toArray(), masked = m.idsMasked.toArray(), mask = m.mask.toArray(), restore = m.idsRestore.toArray();
  for (let b = 0; b < B; b++) {
    const ids = [...keep.slice(b * 4, b * 4 + 4), ...masked.slice(b * 12, b * 12 + 12)];
    assert.deepEqual([...ids].sort((x, y) => x - y), Array.from({ length: N }, (_, i) => i));
    ids.forEach((id, j) => {
      assert.equal(restore[b * N + id], j);
      assert.equal(mask[b * N + id], j < 4 ? 0 : 1);
    });
  }
});

for (const initValues of [0, 0.1]) {
  test(`AttentionBlock rows (${initValues ? 'layer scale' : 'folded residual'} path): forward and gradients equal the full block's at those rows`, () => {
    const ref = createReferenceBackend();
    const ctx = { backend: ref, rng: new Rng(7) };
    const block = new AttentionBlock(ctx, 16, 2, 2, 1e-6, 0, initValues, null);
    const rng = new Rng(8);
    const x = randTensor(ref, [2, 5, 16], rng, 'float32');
    const rows = tensor(ref, Int32Array.from([4, 0, 2, 1, 3, 3]), [2, 3], 'int32');
    const weights = randTensor(ref, [2, 3, 16], rng, 'float32');
    const bc = { rng: new Rng(9) };
    const run = (withRows: boolean) => {
      for (const p of block.parameters()) p.grad = null;
      const out = withRows ? block.forward(x, bc, null, rows) : take(block.forward(x, bc, null), rows, 1);
      backward(sum(mul(out, weights)));
      return { out: out.toArray(), grads: block.parameters().map((p) => p.grad!.toArray()) };
    };
    const full = run(false), picked = run(true);
    assert.ok(relL2(picked.out, full.out) < 1e-6);
    picked.grads.forEach((g, i) => assert.ok(relL2(g, full.grads[i]) < 1e-5, `parameter ${i}`));
  });
}

const backends: [string, () => Backend][] = [['reference', createReferenceBackend], ['cpu', () => createCpuBackend({ threads: 2 })]];
for (const [name, make] of backends) {
  test(`forwardTrainLoss equals forward().loss with the same gradients (${name} backend, itpn_tiny at 64 px)`, () => {
    const backend = make();
    const model = new ITPNMaskedAutoencoder({ backend, rng: new Rng(1) }, taskConfig('itpn_tiny', 'pixel', { img_size: 64 }));
    const rng = new Rng(3);
    const imgs = randTensor(backend, [2, 3, 64, 64], rng, 'float32');
    const noise = maskingNoise(backend, 2, 16, () => rng.uniform());
    const run = (trainOnly: boolean) => {
      for (const p of model.parameters()) p.grad = null;
      const loss = trainOnly ? model.forwardTrainLoss(imgs, noise).loss : model.forward(imgs, noise).loss;
      backward(loss);
      return { loss: loss.item(), grads: model.namedParameters().map(([n, p]) => [n, p.grad ? p.grad.toArray() : null] as const) };
    };
    const full = run(false), masked = run(true);
    assert.ok(Math.abs(masked.loss - full.loss) <= 1e-6 * Math.abs(full.loss), `${masked.loss} vs ${full.loss}`);
    full.grads.forEach(([n, g], i) => {
      const h = masked.grads[i][1];
      assert.ok(g && h, `no gradient for ${n}`);
      assert.ok(relL2(h, g) < 2e-5, `${n}: relative L2 ${relL2(h, g)}`);
    });
  });
}
