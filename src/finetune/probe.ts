// Linear probing (MAE main_linprobe.py, simplified for CPU): the backbone is frozen, so its pooled features are
// computed once per (weights, data, input size) with the eval transform and cached as safetensors in the output
// folder. They are standardised with the training set's mean and variance (a non-affine batch norm with fixed
// statistics, eps 1e-6), and a linear head is trained on them with AdamW and a warmup + cosine schedule.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Backend } from '../engine/backend';
import { backward } from '../engine/autograd';
import { Rng } from '../engine/random';
import { noGradAsync, tidy } from '../engine/scope';
import { crossEntropy, tensor } from '../ops';
import { BatchLoader } from '../data/loader';
import type { ImageSample } from '../data/image_folder';
import { readSafetensors, writeSafetensors } from '../io/safetensors';
import { truncNormalParam } from '../nn/init';
import { Linear } from '../nn/layers';
import { AdamW } from '../optim/adamw';
import { lrAt } from '../optim/schedule';
import { rankOf } from './evaluate';
import { computeFeatures, type FeatureModel } from './features';
import { concatFloat32 } from './images';

export interface ProbeOptions {
  epochs: number;
  lr: number;
  weightDecay: number;
  batch: number;
  warmupEpochs: number;
  seed: number;
}

export interface FeatureSet {
  features: Float32Array;
  labels: Int32Array;
  count: number;
  dim: number;
  /** True when read from the cache. */
  cached: boolean;
  file: string;
}

export interface ProbeEpoch { epoch: number; train_loss: number; val_top1: number; val_top5: number; lr: number }

/** Cache file name: a hash of what determines the features. */
export function featureCacheKey(parts: Record<string, unknown>): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 16);
}

/** Identity of a weights file for the cache key (its bytes), or of random weights (arch, size, seed). */
export function weightsDigest(file: string | null, scratch: { arch: string; seed: number }): string {
  if (!file) return `scratch:${scratch.arch}:${scratch.seed}`;
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/** Pooled features of every sample (eval transform, fixed order), read from or written to `cacheFile`. */
export async function pooledFeatures(fm: FeatureModel, samples: ImageSample[], backend: Backend, cacheFile: string,
  o: { batch: number; workers?: number; onProgress?: (done: number, total: number) => void }): Promise<FeatureSet> {
  if (fs.existsSync(cacheFile)) {
    const t = readSafetensors(cacheFile).tensors;
    const f = t.get('features')!, l = t.get('labels')!;
    return { features: f.data as Float32Array, labels: l.data as Int32Array, count: f.shape[0], dim: f.shape[1], cached: true, file: cacheFile };
  }
  const S = fm.cfg.img_size, C = fm.cfg.embed_dim;
  const loader = new BatchLoader({ samples, batchSize: o.batch, imgSize: S, train: false, workers: o.workers });
  const rows: Float32Array[] = [], labels: number[] = [], paths: string[] = [];
  try {
    await noGradAsync(async () => {
      for await (const batch of loader.epoch(0)) {
        const B = batch.batchSize;
        rows.push(tidy(() => computeFeatures(fm, tensor(backend, batch.images, [B, 3, S, S])).get('embedding')!.toFloat32Array()));
        labels.push(...batch.labels);
        paths.push(...batch.paths);
        o.onProgress?.(paths.length, samples.length);
      }
    });
  } finally {
    await loader.close();
  }
  const features = concatFloat32(rows);
  const labelArray = Int32Array.from(labels);
  fs.mkdirSync(path.dirname(cacheFile), { recursive: true });
  writeSafetensors(cacheFile, new Map([
    ['features', { dtype: 'F32' as const, shape: [paths.length, C], data: features }],
    ['labels', { dtype: 'I32' as const, shape: [paths.length], data: labelArray }],
  ]), { paths: JSON.stringify(paths) });
  return { features, labels: labelArray, count: paths.length, dim: C, cached: false, file: cacheFile };
}

/** Per-dimension mean and 1/√(var + eps) of the training features. */
export function featureStats(set: FeatureSet, eps = 1e-6): { mean: Float64Array; invStd: Float64Array } {
  const { dim, count, features } = set;
  const m = new Float64Array(dim), v = new Float64Array(dim);
  for (let i = 0; i < count; i++) for (let d = 0; d < dim; d++) m[d] += features[i * dim + d];
  for (let d = 0; d < dim; d++) m[d] /= count;
  for (let i = 0; i < count; i++) for (let d = 0; d < dim; d++) v[d] += (features[i * dim + d] - m[d]) ** 2;
  return { mean: m, invStd: v.map((x) => 1 / Math.sqrt(x / count + eps)) };
}

function standardise(set: FeatureSet, stats: { mean: Float64Array; invStd: Float64Array }): Float32Array {
  const out = new Float32Array(set.features.length);
  for (let i = 0; i < set.count; i++) for (let d = 0; d < set.dim; d++) out[i * set.dim + d] = (set.features[i * set.dim + d] - stats.mean[d]) * stats.invStd[d];
  return out;
}

/** Trains the linear head; returns the per-epoch log (top-1/top-5 on `val` after each epoch). */
export function trainLinearProbe(backend: Backend, train: FeatureSet, val: FeatureSet, numClasses: number, o: ProbeOptions,
  onEpoch?: (e: ProbeEpoch) => void): ProbeEpoch[] {
  const stats = featureStats(train);
  const xTrain = standardise(train, stats), xVal = standardise(val, stats);
  const D = train.dim;
  const rng = new Rng(o.seed);
  const head = new Linear({ backend, rng }, D, numClasses);
  head.weight.dispose();
  head.weight = truncNormalParam({ backend, rng }, [numClasses, D], 0.01); // MAE linprobe: trunc_normal_(head.weight, std=0.01)
  const opt = new AdamW([{ name: 'head', params: head.namedParameters().map(([name, tensor]) => ({ name, tensor })), lrScale: 1, weightDecay: o.weightDecay }],
    { beta1: 0.9, beta2: 0.999, eps: 1e-8 });
  const stepsPerEpoch = Math.ceil(train.count / o.batch);
  const schedule = { baseLr: o.lr, minLr: 0, warmupSteps: o.warmupEpochs * stepsPerEpoch, totalSteps: o.epochs * stepsPerEpoch };
  const history: ProbeEpoch[] = [];
  let step = 0;
  for (let epoch = 0; epoch < o.epochs; epoch++) {
    const order = rng.permutation(train.count);
    let lossSum = 0;
    let lr = 0;
    for (let s = 0; s < train.count; s += o.batch) {
      const idx = order.subarray(s, Math.min(train.count, s + o.batch));
      const x = new Float32Array(idx.length * D), y = new Int32Array(idx.length);
      idx.forEach((j, r) => {
        x.set(xTrain.subarray(j * D, (j + 1) * D), r * D);
        y[r] = train.labels[j];
      });
      lossSum += tidy(() => {
        const loss = crossEntropy(head.forward(tensor(backend, x, [idx.length, D])), tensor(backend, y, [idx.length], 'int32'));
        backward(loss);
        return loss.item() * idx.length;
      });
      lr = lrAt(step++, schedule);
      opt.update(lr);
      opt.zeroGrad();
    }
    const { top1, top5 } = accuracy(backend, head, xVal, val.labels, val.count, D, numClasses);
    const rec = { epoch, train_loss: lossSum / train.count, val_top1: top1, val_top5: top5, lr };
    history.push(rec);
    onEpoch?.(rec);
  }
  head.dispose();
  for (const t of [...opt.m.values(), ...opt.v.values()]) t.dispose();
  return history;
}

function accuracy(backend: Backend, head: Linear, x: Float32Array, labels: Int32Array, n: number, D: number, K: number): { top1: number; top5: number } {
  const logits = tidy(() => head.forward(tensor(backend, x, [n, D])).toArray());
  let top1 = 0, top5 = 0;
  for (let i = 0; i < n; i++) {
    const rank = rankOf(logits, i * K, K, labels[i]);
    if (rank === 0) top1++;
    if (rank < 5) top5++;
  }
  return { top1: top1 / n, top5: top5 / n };
}
