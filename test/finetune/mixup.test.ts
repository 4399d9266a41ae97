// Mixup/CutMix with timm's batch-mode semantics: partner = the batch flipped, λ ~ Beta(α, α), CutMix box pasted
// from the partner with λ corrected to the pasted area, smoothed one-hot targets mixed with the same λ.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/engine/random';
import { mixBatch, mixupTargets, randBox, sampleBeta, type MixupConfig } from '../../src/finetune/mixup';

const B = 4, H = 8, W = 6, K = 5;
const labels = Int32Array.from([0, 3, 1, 4]);
const images = Float32Array.from({ length: B * 3 * H * W }, (_, i) => Math.sin(i * 0.37) * 2);
const cfg = (o: Partial<MixupConfig>): MixupConfig => ({ mixupAlpha: 0.8, cutmixAlpha: 1, prob: 1, switchProb: 0.5, labelSmoothing: 0.1, numClasses: K, ...o });

test('Beta(0.8, 0.8) samples have the right mean and variance', () => {
  const rng = new Rng(11);
  const n = 40000, a = 0.8;
  let s = 0, s2 = 0;
  for (let i = 0; i < n; i++) {
    const x = sampleBeta(rng, a, a);
    assert.ok(x >= 0 && x <= 1);
    s += x;
    s2 += x * x;
  }
  const mean = s / n, variance = s2 / n - mean * mean;
  assert.ok(Math.abs(mean - 0.5) < 0.01, `mean ${mean}`);
  assert.ok(Math.abs(variance - 1 / (4 * (2 * a + 1))) < 0.005, `variance ${variance}`); // αβ/((α+β)²(α+β+1))
});

test('targets: smoothed one-hots (off = ε/K, on = 1 − ε + ε/K) mixed with the flipped batch', () => {
  const t = mixupTargets(Int32Array.from([2, 0]), 0.7, 4, 0.1);
  const off = 0.025, on = 0.925;
  const want = [
    off, off, 0.7 * on + 0.3 * off, off, // label 2 mixed with partner label 0 …
    0.7 * on + 0.3 * off, off, off, off,
  ];
  want[0] = 0.7 * off + 0.3 * on; // … partner of row 0 is row 1 (label 0)
  want[6] = 0.7 * off + 0.3 * on; // partner of row 1 is row 0 (label 2)
  t.forEach((v, i) => assert.ok(Math.abs(v - want[i]) < 1e-7, `${i}: ${v} vs ${want[i]}`));
});

test('mixup blends each image with its partner i ↔ B−1−i with one λ', () => {
  const m = mixBatch(images, labels, H, W, cfg({ cutmixAlpha: 0 }), new Rng(3));
  assert.equal(m.kind, 'mixup');
  assert.ok(m.lam > 0 && m.lam < 1);
  const size = 3 * H * W;
  for (let i = 0; i < B; i++) {
    for (let j = 0; j < size; j += 7) {
      const want = images[i * size + j] * m.lam + images[(B - 1 - i) * size + j] * (1 - m.lam);
      assert.ok(Math.abs(m.images[i * size + j] - want) < 1e-6);
    }
  }
  for (let i = 0; i < B; i++) assert.ok(Math.abs(m.targets.subarray(i * K, (i + 1) * K).reduce((a, b) => a + b, 0) - 1) < 1e-6);
  assert.ok(Math.abs(m.targets[0 * K + 0] - (m.lam * 0.9 + 0.02)) < 1e-6, 'row 0: label 0 weighted by λ');
  assert.ok(Math.abs(m.targets[0 * K + 4] - ((1 - m.lam) * 0.9 + 0.02)) < 1e-6, 'row 0: partner label 4 weighted by 1 − λ');
});

test('cutmix pastes the partner inside the box only, and λ is the unpasted area', () => {
  let m;
  for (let seed = 0; ; seed++) {
    m = mixBatch(images, labels, H, W, cfg({ mixupAlpha: 0 }), new Rng(seed));
    if (m.box && m.box.yh > m.box.yl && m.box.xh > m.box.xl) break;
  }
  assert.equal(m.kind, 'cutmix');
  const { yl, yh, xl, xh } = m.box!;
  assert.ok(Math.abs(m.lam - (1 - ((yh - yl) * (xh - xl)) / (H * W))) < 1e-12);
  const size = 3 * H * W;
  for (let i = 0; i < B; i++) for (let c = 0; c < 3; c++) for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
    const o = c * H * W + y * W + x;
    const inside = y >= yl && y < yh && x >= xl && x < xh;
    assert.equal(m.images[i * size + o], images[(inside ? B - 1 - i : i) * size + o]);
  }
});

test('rand_bbox: sides int(H·√(1−λ)), centred on a uniform point, clipped to the image', () => {
  for (let seed = 0; seed < 50; seed++) {
    const b = randBox(H, W, 0.3, new Rng(seed));
    assert.ok(b.yl >= 0 && b.yh <= H && b.xl >= 0 && b.xh <= W && b.yl <= b.yh && b.xl <= b.xh);
    assert.ok(b.yh - b.yl <= 2 * Math.floor(Math.trunc(H * Math.sqrt(0.7)) / 2));
  }
});

test('with probability 0 (or both alphas 0) the batch is unchanged and targets are smoothed one-hots', () => {
  for (const c of [cfg({ prob: 0 }), cfg({ mixupAlpha: 0, cutmixAlpha: 0 })]) {
    const m = mixBatch(images, labels, H, W, c, new Rng(1));
    assert.equal(m.kind, 'none');
    assert.deepEqual(m.images, images);
    for (let i = 0; i < B; i++) for (let k = 0; k < K; k++) assert.ok(Math.abs(m.targets[i * K + k] - (k === labels[i] ? 0.92 : 0.02)) < 1e-7);
  }
});

test('the same RNG state gives the same batch (resumable)', () => {
  const a = mixBatch(images, labels, H, W, cfg({}), new Rng(9));
  const b = mixBatch(images, labels, H, W, cfg({}), new Rng(9));
  assert.deepEqual(a, b);
});
