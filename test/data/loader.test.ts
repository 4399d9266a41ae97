import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import sharp from 'sharp';
import { decodeImage } from '../../src/data/decode_worker';
import { ImageSample, listImageFolder } from '../../src/data/image_folder';
import { ReplayRng } from '../../src/data/rng';
import { IMAGENET_MEAN, IMAGENET_STD, TRAIN_UNIFORMS_PER_SAMPLE, sampleRandomResizedCrop } from '../../src/data/transforms';
import { Batch, BatchLoader, BatchLoaderOptions } from '../../src/data/loader';

const REPO_ROOT = path.resolve(__dirname, '../../..');
const MINI = path.join(REPO_ROOT, 'data/imagenette-mini');
const IMG = 64;

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'itpn-loader-'));
after(() => fs.rmSync(tmpRoot, { recursive: true, force: true }));

/** A few images from every class, so tests stay fast. */
function someSamples(count: number): ImageSample[] {
  const { samples } = listImageFolder(path.join(MINI, 'val'));
  return samples.filter((_, i) => i % 30 < 2).slice(0, count);
}

async function collect(opts: BatchLoaderOptions, epochIndex = 0): Promise<Batch[]> {
  const loader = new BatchLoader(opts);
  try {
    const batches: Batch[] = [];
    for await (const batch of loader.epoch(epochIndex)) batches.push(batch);
    return batches;
  } finally {
    await loader.close();
  }
}

/** Python's round(d / 2) for an integer d, as torchvision's CenterCrop computes its offset. */
function halfEvenHalf(d: number): number {
  const k = Math.floor(d / 2);
  return d % 2 === 0 || k % 2 === 0 ? k : k + 1;
}

describe('BatchLoader', () => {
  const samples = someSamples(10);

  it('yields batches of the right shapes, dropping or keeping the last partial batch', async () => {
    const base = { samples, batchSize: 4, imgSize: IMG, train: true, seed: 1, workers: 2 };
    const dropped = await collect({ ...base, dropLast: true });
    assert.equal(dropped.length, 2);
    for (const b of dropped) {
      assert.equal(b.batchSize, 4);
      assert.ok(b.images instanceof Float32Array);
      assert.equal(b.images.length, 4 * 3 * IMG * IMG);
      assert.ok(b.labels instanceof Int32Array);
      assert.equal(b.labels.length, 4);
      assert.equal(b.paths.length, 4);
      assert.ok(b.images.every(Number.isFinite));
      // normalised pixels lie within (0 - mean) / std .. (1 - mean) / std
      assert.ok(b.images.every((v) => v > -2.2 && v < 2.7));
    }
    const kept = await collect({ ...base, dropLast: false });
    assert.deepEqual(kept.map((b) => b.batchSize), [4, 4, 2]);
    assert.equal(kept[2].images.length, 2 * 3 * IMG * IMG);
    const seen = kept.flatMap((b) => b.paths).sort();
    assert.deepEqual(seen, samples.map((s) => s.path).sort(), 'every sample once per epoch');
  });

  it('is deterministic for a seed and epoch, whatever the worker count', async () => {
    const base = { samples, batchSize: 5, imgSize: IMG, train: true, seed: 123, dropLast: true };
    const a = await collect({ ...base, workers: 2 });
    const b = await collect({ ...base, workers: 1, prefetch: 1 });
    assert.deepEqual(a.map((x) => x.paths), b.map((x) => x.paths));
    for (let i = 0; i < a.length; i++) {
      assert.deepEqual(a[i].labels, b[i].labels);
      assert.ok(Buffer.from(a[i].images.buffer).equals(Buffer.from(b[i].images.buffer)), `batch ${i} pixels equal`);
    }
    const otherEpoch = await collect({ ...base, workers: 2 }, 1);
    assert.notDeepEqual(otherEpoch.map((x) => x.paths), a.map((x) => x.paths));
    const otherSeed = await collect({ ...base, workers: 2, seed: 124 });
    assert.ok(!Buffer.from(otherSeed[0].images.buffer).equals(Buffer.from(a[0].images.buffer)));
  });

  it('eval output matches a manual sharp decode, resize and normalisation', async () => {
    const sample = samples[3];
    const [batch] = await collect({ samples: [sample], batchSize: 1, imgSize: IMG, train: false, workers: 1 });
    const meta = await sharp(sample.path).metadata();
    const w = meta.width!;
    const h = meta.height!;
    const short = Math.round(IMG / 0.875);
    const rw = w <= h ? short : Math.floor((short * w) / h);
    const rh = w <= h ? Math.floor((short * h) / w) : short;
    const { data } = await sharp(sample.path)
      .removeAlpha()
      .toColourspace('srgb')
      .resize(rw, rh, { kernel: 'cubic', fit: 'fill', fastShrinkOnLoad: false })
      .extract({ left: halfEvenHalf(rw - IMG), top: halfEvenHalf(rh - IMG), width: IMG, height: IMG })
      .raw()
      .toBuffer({ resolveWithObject: true });
    const mean = [0.485, 0.456, 0.406];
    const std = [0.229, 0.224, 0.225];
    let maxError = 0;
    for (let c = 0; c < 3; c++) {
      for (let i = 0; i < IMG * IMG; i++) {
        const expected = (data[i * 3 + c] / 255 - mean[c]) / std[c];
        maxError = Math.max(maxError, Math.abs(batch.images[c * IMG * IMG + i] - expected));
      }
    }
    assert.ok(maxError < 1e-5, `max error ${maxError}`);
    assert.equal(batch.labels[0], sample.label);
  });

  it('training decode crops the sampled rectangle of the source, resizes it and mirrors it', async () => {
    const sample = samples[5];
    // 0.3 for every draw: a crop that fits on the first try, and a flip (0.3 < 0.5)
    const uniforms = new Float64Array(TRAIN_UNIFORMS_PER_SAMPLE).fill(0.3);
    const decoded = await decodeImage({ path: sample.path, imgSize: IMG, train: true, uniforms, scale: [0.2, 1], ratio: [3 / 4, 4 / 3], cropPct: 0.875 });
    const meta = await sharp(sample.path).metadata();
    const crop = sampleRandomResizedCrop(meta.width!, meta.height!, new ReplayRng(uniforms));
    const { data } = await sharp(sample.path)
      .extract(crop)
      .resize(IMG, IMG, { kernel: 'cubic', fit: 'fill', fastShrinkOnLoad: false })
      .raw()
      .toBuffer({ resolveWithObject: true });
    let maxError = 0;
    for (let c = 0; c < 3; c++) {
      for (let y = 0; y < IMG; y++) {
        for (let x = 0; x < IMG; x++) {
          const mirrored = data[(y * IMG + (IMG - 1 - x)) * 3 + c];
          const expected = (mirrored / 255 - IMAGENET_MEAN[c]) / IMAGENET_STD[c];
          maxError = Math.max(maxError, Math.abs(decoded[c * IMG * IMG + y * IMG + x] - expected));
        }
      }
    }
    assert.ok(maxError < 1e-5, `max error ${maxError}`);
  });

  it('skips a corrupt file with one warning and keeps the batch size', async () => {
    const dir = path.join(tmpRoot, 'with-corrupt', 'cls');
    fs.mkdirSync(dir, { recursive: true });
    const good = samples.slice(0, 5);
    good.forEach((s, i) => fs.copyFileSync(s.path, path.join(dir, `img_${i}.jpg`)));
    const corrupt = path.join(dir, 'img_1b.jpg'); // sorts between the good ones
    fs.writeFileSync(corrupt, Buffer.from('this is not a jpeg, just some garbage bytes'));
    const { samples: listed } = listImageFolder(path.dirname(dir));
    assert.equal(listed.length, 6);

    const warnings: string[] = [];
    const loader = new BatchLoader({
      samples: listed, batchSize: 2, imgSize: IMG, train: false, workers: 2, dropLast: false,
      warn: (m) => warnings.push(m),
    });
    try {
      for (const epochIndex of [0, 1]) {
        const batches: Batch[] = [];
        for await (const b of loader.epoch(epochIndex)) batches.push(b);
        assert.deepEqual(batches.map((b) => b.batchSize), [2, 2, 1]);
        assert.ok(batches.every((b) => !b.paths.includes(corrupt)));
      }
    } finally {
      await loader.close();
    }
    assert.equal(warnings.length, 1, 'one warning over two epochs');
    assert.ok(warnings[0].includes(corrupt));
    assert.ok(!warnings[0].includes('\n'));
    assert.deepEqual(loader.skipped, [corrupt]);
  });

  it('decoded-pixel cache: later epochs reuse the pixels and give the same batches as without it; a budget caps it', async () => {
    const base = { samples, batchSize: 5, imgSize: IMG, train: true, seed: 9, dropLast: true, workers: 2, decodeCacheMiB: 64 };
    const epochs = async (opts: BatchLoaderOptions) => {
      const loader = new BatchLoader(opts);
      try {
        const out: Batch[][] = [];
        const bytes: number[] = [];
        for (const e of [0, 1, 2]) {
          const batches: Batch[] = [];
          for await (const batch of loader.epoch(e)) batches.push(batch);
          out.push(batches);
          bytes.push(loader.decodeCacheBytes);
        }
        return { out, bytes };
      } finally {
        await loader.close();
      }
    };
    const cached = await epochs(base);
    const uncached = await epochs({ ...base, decodeCacheMiB: 0 });
    assert.ok(cached.bytes[0] > 0, 'the first epoch fills the cache');
    assert.equal(cached.bytes[1], cached.bytes[0], 'nothing new to cache after the first epoch');
    assert.deepEqual(uncached.bytes, [0, 0, 0]);
    assert.deepEqual((await epochs({ ...base, decodeCacheMiB: undefined })).bytes, [0, 0, 0], 'off unless asked for');
    cached.out.forEach((batches, e) => batches.forEach((b, i) => {
      assert.deepEqual(b.paths, uncached.out[e][i].paths);
      assert.ok(Buffer.from(b.images.buffer).equals(Buffer.from(uncached.out[e][i].images.buffer)), `epoch ${e} batch ${i}: same pixels`);
    }));
    const perImage = cached.bytes[0] / samples.length;
    const small = await epochs({ ...base, decodeCacheMiB: (2.5 * perImage) / (1024 * 1024) });
    assert.ok(small.bytes[2] <= 2.5 * perImage && small.bytes[2] > 0, `capped at the budget: ${small.bytes[2]} bytes`);
    small.out[2].forEach((b, i) => assert.ok(Buffer.from(b.images.buffer).equals(Buffer.from(cached.out[2][i].images.buffer))));
  });

  it('rejects bad options before starting workers', () => {
    assert.throws(() => new BatchLoader({ samples: [], batchSize: 2, imgSize: IMG, train: false }), /no samples/);
    assert.throws(() => new BatchLoader({ samples, batchSize: 0, imgSize: IMG, train: false }), /batchSize/);
    assert.throws(() => new BatchLoader({ samples, batchSize: 2, imgSize: IMG, train: false, decodeCacheMiB: -1 }), /decodeCacheMiB/);
  });
});
