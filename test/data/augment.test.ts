// The fine-tuning augmentations: PIL's point ops and enhancers on hand-computed cases, the affine sampler on exact
// pixel shifts and quarter turns, RandAugment's config parsing and replay, RandomErasing's box and noise, and the
// loader option that runs them in the decode workers; and ColorJitter, the CLIP pre-training transform.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import * as ops from '../../src/data/augment/image_ops';
import type { RgbImage } from '../../src/data/augment/image_ops';
import { FILL, parseRandAugment, randAugment, randAugmentUniforms } from '../../src/data/augment/rand_augment';
import { RANDOM_ERASING_UNIFORMS, randomErasing } from '../../src/data/augment/random_erasing';
import { augmentUniforms } from '../../src/data/augment';
import { COLOR_JITTER_UNIFORMS, colorJitter } from '../../src/data/augment/color_jitter';
import { decodeImage, decodePixels } from '../../src/data/decode_worker';
import { TRAIN_UNIFORMS_PER_SAMPLE } from '../../src/data/transforms';
import { listImageFolder } from '../../src/data/image_folder';
import { BatchLoader, type BatchLoaderOptions } from '../../src/data/loader';
import { Mulberry32, ReplayRng } from '../../src/data/rng';
import { repoRoot } from '../helpers';

function image(W: number, H: number, f: (x: number, y: number, c: number) => number): RgbImage {
  const data = new Uint8Array(W * H * 3);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) for (let c = 0; c < 3; c++) data[(y * W + x) * 3 + c] = f(x, y, c);
  return { data, width: W, height: H };
}
const px = (img: RgbImage, x: number, y: number, c: number) => img.data[(y * img.width + x) * 3 + c];
const ramp = image(16, 16, (x, y, c) => (x * 13 + y * 3 + c * 50) % 256);

describe('point ops (lookup tables)', () => {
  test('invert, posterize, solarize, solarize_add', () => {
    for (const [x, y, c] of [[0, 0, 0], [5, 7, 1], [15, 15, 2]]) {
      const v = px(ramp, x, y, c);
      assert.equal(px(ops.invert(ramp), x, y, c), 255 - v);
      assert.equal(px(ops.posterize(ramp, 2), x, y, c), v & 0xc0);
      assert.equal(px(ops.posterize(ramp, 0), x, y, c), 0);
      assert.equal(px(ops.solarize(ramp, 100), x, y, c), v < 100 ? v : 255 - v);
      assert.equal(px(ops.solarizeAdd(ramp, 110), x, y, c), v < 128 ? Math.min(255, v + 110) : v);
    }
    assert.equal(ops.posterize(ramp, 8), ramp);
  });

  test('autocontrast stretches each channel from its [min, max] to [0, 255]', () => {
    const img = image(4, 1, (x, _y, c) => (c === 2 ? 77 : 50 + x * 25)); // channel 2 is flat: unchanged
    const out = ops.autoContrast(img);
    const scale = 255 / 75;
    for (let x = 0; x < 4; x++) {
      assert.equal(px(out, x, 0, 0), Math.trunc((50 + x * 25) * scale - 50 * scale));
      assert.equal(px(out, x, 0, 2), 77);
    }
    assert.equal(px(out, 0, 0, 0), 0);
    assert.equal(px(out, 3, 0, 0), 255);
  });

  test('equalize: four equal levels go to 0, 100, 200 and 255 (PIL step arithmetic)', () => {
    const levels = [10, 50, 100, 200];
    const img = image(40, 30, (x) => levels[Math.floor(x / 10)]); // 300 pixels per level
    const out = ops.equalize(img);
    [0, 100, 200, 255].forEach((want, i) => assert.equal(px(out, i * 10, 0, 1), want));
  });
});

describe('enhancers (Image.blend with the degenerate image)', () => {
  test('factor 1 is the identity; brightness 0 is black; color 0 is the luma; contrast 0 is the mean grey', () => {
    for (const f of [ops.color, ops.contrast, ops.brightness, ops.sharpness]) assert.deepEqual(f(ramp, 1).data, ramp.data);
    assert.ok(ops.brightness(ramp, 0).data.every((v) => v === 0));
    const grey = ops.color(ramp, 0);
    const [r, g, b] = [px(ramp, 3, 4, 0), px(ramp, 3, 4, 1), px(ramp, 3, 4, 2)];
    const luma = (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16;
    for (let c = 0; c < 3; c++) assert.equal(px(grey, 3, 4, c), luma);
    const flat = ops.contrast(ramp, 0).data;
    assert.ok(flat.every((v) => v === flat[0]));
    assert.equal(px(ops.brightness(ramp, 1.5), 1, 1, 0), Math.min(255, Math.trunc(px(ramp, 1, 1, 0) * 1.5)));
  });

  test('sharpness keeps the border and blends the interior with the 3×3 smooth filter', () => {
    const img = image(5, 5, (x, y) => (x === 2 && y === 2 ? 255 : 0));
    const soft = ops.sharpness(img, 0); // the smoothed image itself
    assert.equal(px(soft, 0, 0, 0), 0);
    assert.equal(px(soft, 2, 2, 0), Math.round((255 * 5) / 13));
    assert.equal(px(soft, 1, 2, 0), Math.round(255 / 13));
  });
});

describe('geometric ops (PIL affine with bicubic sampling and fill)', () => {
  test('translate by a whole number of pixels shifts exactly and fills the uncovered edge', () => {
    const out = ops.translateXRel(ramp, 4 / 16, FILL); // 4 pixels: content moves left
    for (let y = 0; y < 16; y++) for (let x = 0; x < 16; x++) for (let c = 0; c < 3; c++) {
      assert.equal(px(out, x, y, c), x + 4 < 16 ? px(ramp, x + 4, y, c) : FILL[c]);
    }
    const down = ops.translateYRel(ramp, -2 / 16, FILL); // content moves down 2 rows
    assert.equal(px(down, 5, 0, 1), FILL[1]);
    assert.equal(px(down, 5, 9, 1), px(ramp, 5, 7, 1));
  });

  test('rotate by 90° turns counter-clockwise exactly; 0° and shear 0 are the identity', () => {
    const out = ops.rotate(ramp, 90, FILL);
    for (let y = 0; y < 16; y++) for (let x = 0; x < 16; x++) assert.equal(px(out, x, y, 0), px(ramp, 15 - y, x, 0));
    assert.deepEqual(ops.rotate(ramp, 0, FILL).data, ramp.data);
    assert.deepEqual(ops.shearX(ramp, 0, FILL).data, ramp.data);
  });

  test('fill colour is the ImageNet mean in 8 bits', () => {
    assert.deepEqual(FILL, [124, 116, 104]);
  });
});

describe('RandAugment and RandomErasing', () => {
  test('parses timm specs and rejects unknown parts', () => {
    assert.deepEqual(parseRandAugment('rand-m9-mstd0.5-inc1'), { numOps: 2, magnitude: 9, magnitudeStd: 0.5, increasing: true });
    assert.deepEqual(parseRandAugment('rand-n3-m5'), { numOps: 3, magnitude: 5, magnitudeStd: 0, increasing: false });
    assert.throws(() => parseRandAugment('rand-m9-foo1'), /unknown part "foo1"/);
    assert.throws(() => parseRandAugment('augmix-m5'), /must start with "rand-"/);
  });

  test('replays exactly from the same uniforms, changes the image, and stays within its uniform budget', () => {
    const cfg = parseRandAugment('rand-m9-mstd0.5-inc1');
    const u = Float64Array.from({ length: randAugmentUniforms(cfg) }, (_, i) => (i * 0.618) % 1);
    const a = randAugment(ramp, cfg, new ReplayRng(u)); // ReplayRng throws if the budget is exceeded
    const b = randAugment(ramp, cfg, new ReplayRng(u));
    assert.deepEqual(a.data, b.data);
    let changed = 0;
    for (let s = 1; s <= 20; s++) {
      const rng = new Mulberry32(s);
      const v = Float64Array.from({ length: randAugmentUniforms(cfg) }, () => rng.uniform());
      if (randAugment(ramp, cfg, new ReplayRng(v)).data.some((x, i) => x !== ramp.data[i])) changed++;
    }
    assert.ok(changed >= 12, `${changed} of 20 draws changed the image (each op fires with p 0.5, two ops)`);
    assert.deepEqual(randAugment(ramp, { ...cfg, numOps: 0 }, new ReplayRng([])).data, ramp.data);
  });

  test('random erasing fills one box with N(0, 1) noise and leaves the rest', () => {
    const H = 40, W = 30;
    const base = Float32Array.from({ length: 3 * H * W }, (_, i) => (i % 7) * 0.1 + 5);
    const chw = base.slice();
    const rng = new Mulberry32(4);
    const u = Float64Array.from({ length: RANDOM_ERASING_UNIFORMS }, () => rng.uniform());
    const box = randomErasing(chw, 3, H, W, 1, new ReplayRng(u))!;
    assert.ok(box, 'probability 1 erases');
    const area = box.height * box.width;
    assert.ok(area >= 0.02 * H * W * 0.5 && area <= (H * W) / 3 + H + W, `area ${area}`);
    const noise: number[] = [];
    for (let c = 0; c < 3; c++) for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
      const i = (c * H + y) * W + x;
      const inside = y >= box.top && y < box.top + box.height && x >= box.left && x < box.left + box.width;
      if (inside) noise.push(chw[i]);
      else assert.equal(chw[i], base[i]);
    }
    const m = noise.reduce((a, b) => a + b, 0) / noise.length;
    const sd = Math.sqrt(noise.reduce((a, b) => a + (b - m) ** 2, 0) / noise.length);
    assert.ok(Math.abs(m) < 0.35 && Math.abs(sd - 1) < 0.3, `noise mean ${m}, sd ${sd} over ${noise.length}`);
    const again = base.slice();
    randomErasing(again, 3, H, W, 1, new ReplayRng(u));
    assert.deepEqual(again, chw);
    const untouched = base.slice();
    assert.equal(randomErasing(untouched, 3, H, W, 0, new ReplayRng(u)), null);
    assert.deepEqual(untouched, base);
  });
});

/** Four shipped images, and the first batch a training loader (seed 5, 32 px) makes of them with options `o`. */
const some = listImageFolder(path.join(repoRoot, 'data', 'imagenette-mini', 'val')).samples.filter((_, i) => i % 30 === 0).slice(0, 4);
async function firstBatch(o: Partial<BatchLoaderOptions>): Promise<Float32Array> {
  const loader = new BatchLoader({ samples: some, batchSize: 4, imgSize: 32, train: true, seed: 5, workers: 2, ...o });
  try {
    for await (const b of loader.epoch(0)) return b.images;
    throw new Error('no batch');
  } finally {
    await loader.close();
  }
}

describe('BatchLoader with the augment option', () => {
  const augment = { randAugment: parseRandAugment('rand-m9-mstd0.5-inc1'), reprob: 0.25 };

  test('is deterministic for a seed, differs from the plain crop, and is ignored for eval loaders', async () => {
    assert.equal(augmentUniforms(augment), 10 + 42);
    const a = await firstBatch({ augment }), b = await firstBatch({ augment, workers: 1 });
    assert.deepEqual(a, b, 'same seed, any worker count: same images');
    const plain = await firstBatch({});
    assert.notDeepEqual(a, plain);
    const evalA = await firstBatch({ train: false, augment }), evalB = await firstBatch({ train: false });
    assert.deepEqual(evalA, evalB);
  });
});

describe('ColorJitter (the CLIP pre-training transform)', () => {
  test('factors from U[1 − v, 1 + v] applied in a replayed random order through the PIL enhancers', () => {
    // order draws 0.9 then 0.1: Fisher–Yates over [b, c, s] swaps 2↔2 (floor(0.9·3) = 2), then 1↔0 → [c, b, s]
    const u = [0.9, 0.1, 0.25, 0.5, 1 - 1e-12];
    const got = colorJitter(ramp, 0.4, new ReplayRng(Float64Array.from(u)));
    const lo = 1 - 0.4, hi = 1 + 0.4, f = (x: number) => lo + x * (hi - lo); // torch uniform_(lo, hi)
    const fb = f(0.25), fc = f(0.5), fs = f(1 - 1e-12);
    const want = ops.color(ops.brightness(ops.contrast(ramp, fc), fb), fs);
    assert.deepEqual(got.data, want.data);
    assert.notDeepEqual(got.data, ops.contrast(ops.brightness(ops.color(ramp, fs), fb), fc).data, 'the order matters');
    assert.deepEqual(colorJitter(ramp, 0, new ReplayRng(Float64Array.from(u))).data, ramp.data, 'strength 0: factors 1, unchanged');
    assert.equal(COLOR_JITTER_UNIFORMS, u.length);
  });

  test('the worker jitters the whole image before the crop, from the uniforms after the crop\'s', async () => {
    const file = path.join(repoRoot, 'data', 'imagenette-mini', 'val', 'n01440764', 'ILSVRC2012_val_00009111.jpg');
    const uniforms = Float64Array.from({ length: TRAIN_UNIFORMS_PER_SAMPLE + COLOR_JITTER_UNIFORMS }, (_, i) => (i * 0.37) % 1);
    const job = { path: file, imgSize: 32, train: true, scale: [0.08, 1] as [number, number], ratio: [3 / 4, 4 / 3] as [number, number], cropPct: 0.875 };
    const jittered = await decodeImage({ ...job, uniforms, colorJitter: 0.4 });
    // the same by hand: jitter the decoded pixels, then the plain training decode of those pixels with the crop's uniforms
    const src = await decodePixels(file);
    const whole = colorJitter(ops.toRgb(src.data, src.width, src.height, src.channels), 0.4, new ReplayRng(uniforms.subarray(TRAIN_UNIFORMS_PER_SAMPLE)));
    const byHand = await decodeImage({ ...job, uniforms: uniforms.slice(0, TRAIN_UNIFORMS_PER_SAMPLE), pixels: { data: whole.data, width: src.width, height: src.height, channels: 3 } });
    assert.deepEqual(jittered, byHand);
    assert.notDeepEqual(jittered, await decodeImage({ ...job, uniforms }), 'jitter changes the image');
  });

  test('the loader option: deterministic for a seed, not applied to eval loaders', async () => {
    const a = await firstBatch({ colorJitter: 0.4 }), b = await firstBatch({ colorJitter: 0.4, workers: 1 });
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, await firstBatch({}));
    assert.deepEqual(await firstBatch({ train: false, colorJitter: 0.4 }), await firstBatch({ train: false }));
    assert.throws(() => new BatchLoader({ samples: some, batchSize: 4, imgSize: 32, train: true, colorJitter: -1 }), /colorJitter must be >= 0/);
  });
});
