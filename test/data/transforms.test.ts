import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Mulberry32, ReplayRng, UniformRng, mixSeed } from '../../src/data/rng';
import {
  IMAGENET_MEAN,
  IMAGENET_STD,
  TRAIN_UNIFORMS_PER_SAMPLE,
  denormalizeToRgb,
  evalResizeShortSide,
  normalizeToChw,
  planEvalTransform,
  roundHalfEven,
  sampleHorizontalFlip,
  sampleRandomResizedCrop,
} from '../../src/data/transforms';

const constantRng = (value: number): UniformRng => ({ uniform: () => value });

describe('sampleRandomResizedCrop', () => {
  it('stays inside the image and within scale/ratio when a try succeeds', () => {
    const rng = new Mulberry32(7);
    for (let trial = 0; trial < 2000; trial++) {
      const width = 4 + Math.floor(rng.uniform() * 600);
      const height = 4 + Math.floor(rng.uniform() * 600);
      const crop = sampleRandomResizedCrop(width, height, rng);
      assert.ok(crop.left >= 0 && crop.top >= 0, 'non-negative offset');
      assert.ok(crop.width >= 1 && crop.height >= 1, 'non-empty crop');
      assert.ok(crop.left + crop.width <= width && crop.top + crop.height <= height, 'inside the image');
      if (width >= 100 && height >= 100) {
        // rounding w and h moves area and ratio a little; on small images too much to check
        const areaShare = (crop.width * crop.height) / (width * height);
        assert.ok(areaShare > 0.2 * 0.95 && areaShare <= 1, `area share ${areaShare}`);
        const ratio = crop.width / crop.height;
        assert.ok(ratio > 0.75 * 0.95 && ratio < (4 / 3) * 1.05, `ratio ${ratio}`);
      }
    }
  });

  it('is deterministic for a fixed seed', () => {
    const draw = (seed: number) => {
      const rng = new Mulberry32(seed);
      return Array.from({ length: 50 }, () => sampleRandomResizedCrop(320, 240, rng));
    };
    assert.deepEqual(draw(42), draw(42));
    assert.notDeepEqual(draw(42), draw(43));
  });

  it('falls back to a ratio-clamped centre crop when no try fits', () => {
    // a 10:1 strip: no crop of the whole area with ratio <= 4/3 fits in its height
    assert.deepEqual(sampleRandomResizedCrop(1000, 100, constantRng(0.5), [1, 1]), { left: 433, top: 0, width: 133, height: 100 });
    assert.deepEqual(sampleRandomResizedCrop(100, 1000, constantRng(0.5), [1, 1]), { left: 0, top: 433, width: 100, height: 133 });
  });

  it('follows torchvision arithmetic for a known draw', () => {
    // u = 0.5: ratio exp(0) = 1, w = h = round(sqrt(0.25 * 200 * 100)) = 71,
    // then top = floor(0.5 * (100 - 71 + 1)) = 15 before left = floor(0.5 * (200 - 71 + 1)) = 65
    assert.deepEqual(sampleRandomResizedCrop(200, 100, constantRng(0.5), [0.25, 0.25]), { left: 65, top: 15, width: 71, height: 71 });
  });

  it('never needs more uniforms than the loader pre-draws', () => {
    const source = new Mulberry32(3);
    for (let i = 0; i < 500; i++) {
      const values = Array.from({ length: TRAIN_UNIFORMS_PER_SAMPLE }, () => source.uniform());
      const replay = new ReplayRng(values);
      sampleRandomResizedCrop(30 + i, 1000 - i, replay, [0.9, 1], [3, 4]); // rarely fits: uses all tries
      sampleHorizontalFlip(replay);
    }
  });
});

describe('small helpers', () => {
  it('roundHalfEven matches Python round()', () => {
    assert.deepEqual([0.5, 1.5, 2.5, 3.5, 2.4, 2.6, 7].map(roundHalfEven), [0, 2, 2, 4, 2, 3, 7]);
  });

  it('flip decision is uniform() < 0.5', () => {
    assert.equal(sampleHorizontalFlip(constantRng(0.49)), true);
    assert.equal(sampleHorizontalFlip(constantRng(0.5)), false);
  });

  it('mixSeed separates streams', () => {
    assert.notEqual(mixSeed(1, 0, 1), mixSeed(1, 0, 2));
    assert.notEqual(mixSeed(1, 0, 1), mixSeed(1, 1, 1));
    assert.equal(mixSeed(5, 2, 1), mixSeed(5, 2, 1));
  });
});

describe('planEvalTransform', () => {
  it('resizes the shorter side to round(img / 0.875) and centre-crops', () => {
    assert.equal(evalResizeShortSide(224), 256);
    assert.equal(evalResizeShortSide(112), 128);
    assert.deepEqual(planEvalTransform(500, 375, 224), {
      resizeWidth: 341,
      resizeHeight: 256,
      cropAfter: { left: 58, top: 16, width: 224, height: 224 }, // (341 - 224) / 2 = 58.5 rounds to even
      flip: false,
    });
    const portrait = planEvalTransform(128, 171, 112);
    assert.equal(portrait.resizeWidth, 128);
    assert.equal(portrait.resizeHeight, 171);
    assert.deepEqual(portrait.cropAfter, { left: 8, top: 30, width: 112, height: 112 });
  });
});

describe('normalizeToChw', () => {
  it('gives planar ImageNet-normalised float32, flips and replicates grey', () => {
    const rgb = new Uint8Array([255, 0, 128, 10, 20, 30]); // 2 x 1 image
    const out = normalizeToChw(rgb, 2, 1, 3);
    const expect = (v: number, c: number) => Math.fround((Math.fround(v / 255) - Math.fround(IMAGENET_MEAN[c])) / Math.fround(IMAGENET_STD[c]));
    assert.ok(Math.abs(out[0] - expect(255, 0)) < 1e-6);
    assert.ok(Math.abs(out[1] - expect(10, 0)) < 1e-6);
    assert.ok(Math.abs(out[2] - expect(0, 1)) < 1e-6);
    assert.ok(Math.abs(out[5] - expect(30, 2)) < 1e-6);
    const flipped = normalizeToChw(rgb, 2, 1, 3, true);
    assert.deepEqual(Array.from(flipped), [out[1], out[0], out[3], out[2], out[5], out[4]]);
    const grey = normalizeToChw(new Uint8Array([100]), 1, 1, 1);
    assert.ok(Math.abs(grey[2] - expect(100, 2)) < 1e-6);
  });

  it('denormalizeToRgb inverts it exactly for 8-bit input', () => {
    const rng = new Mulberry32(11);
    const rgb = Uint8Array.from({ length: 5 * 4 * 3 }, () => Math.floor(rng.uniform() * 256));
    assert.deepEqual(denormalizeToRgb(normalizeToChw(rgb, 5, 4, 3), 5, 4), rgb);
  });
});
