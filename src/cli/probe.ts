// `itpn probe`: linear probing of frozen pooled features, from a checkpoint or from random weights
// (--from scratch). Features are cached per (weights, data, size) in --out; the head trains in seconds.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { listTrainVal } from '../finetune/data';
import { loadFeatureModel, randomFeatureModel } from '../finetune/features';
import { parseInit } from '../finetune/model';
import { featureCacheKey, pooledFeatures, trainLinearProbe, weightsDigest, type ProbeEpoch } from '../finetune/probe';
import { pct } from '../finetune/run';
import { resolveWeightFile } from '../finetune/weights';
import { createBackend } from './backend_choice';
import { imageProgress } from './progress';

export interface ProbeCliOptions {
  from?: string;
  data: string;
  val?: string;
  arch?: string;
  imgSize?: number;
  epochs: number;
  warmupEpochs: number;
  lr: number;
  weightDecay: number;
  batch: number;
  featureBatch: number;
  seed: number;
  out: string;
  json: boolean;
  backend: string;
  threads?: number;
  workers?: number;
}

export async function probeCommand(o: ProbeCliOptions): Promise<number> {
  if (!o.from) throw new Error('say which weights to probe: --from <checkpoint> or --from scratch (random weights, needs --arch)');
  const init = parseInit(o.from);
  const valDir = o.val ?? path.join(path.dirname(path.resolve(o.data)), 'val');
  const data = listTrainVal(o.data, valDir);
  if (!(o.epochs >= 1)) throw new Error(`--epochs ${o.epochs}: need at least one epoch`);
  fs.mkdirSync(o.out, { recursive: true });
  const backend = createBackend(o.backend, o.threads);
  const arch = o.arch ?? 'itpn_tiny';
  const fm = init.kind === 'scratch'
    ? randomFeatureModel(backend, arch, o.imgSize ?? 112, o.seed)
    : loadFeatureModel(backend, init.path, { arch: o.arch, imgSize: o.imgSize, withPyramid: false });
  const weights = weightsDigest(init.kind === 'scratch' ? null : resolveWeightFile(init.path), { arch, seed: o.seed });
  const log = (s: string) => (o.json ? process.stderr.write(s + '\n') : console.log(s));
  log(`linear probe of ${fm.describe}: ${fm.cfg.embed_dim}-d pooled features, ${data.classes.length} classes`);
  const cache = (dir: string, samples: typeof data.train) => path.join(o.out, `features-${featureCacheKey({
    weights, arch: fm.cfg, data: path.resolve(dir), files: samples.map((s) => s.path), img_size: fm.cfg.img_size,
  })}.safetensors`);
  const sets = [];
  for (const [name, dir, samples] of [['train', o.data, data.train], ['val', valDir, data.val]] as const) {
    const progress = imageProgress(`${name} features`, samples.length);
    const set = await pooledFeatures(fm, samples, backend, cache(dir, samples), { batch: o.featureBatch, workers: o.workers, onProgress: (done) => progress.update(done) })
      .finally(() => progress.stop());
    log(`  ${name}: ${set.count} images, features ${set.cached ? 'read from the cache' : 'computed and cached'} ${set.file}`);
    sets.push(set);
  }
  fm.model.dispose();
  const logFile = path.join(o.out, 'probe_log.jsonl');
  fs.writeFileSync(logFile, '');
  const onEpoch = (e: ProbeEpoch) => {
    fs.appendFileSync(logFile, JSON.stringify(e) + '\n');
    if ((e.epoch + 1) % 10 === 0 || e.epoch + 1 === o.epochs) log(`  epoch ${e.epoch + 1}/${o.epochs}: train loss ${e.train_loss.toFixed(4)}, val top-1 ${pct(e.val_top1)}, top-5 ${pct(e.val_top5)}`);
  };
  const history = trainLinearProbe(backend, sets[0], sets[1], data.classes.length,
    { epochs: o.epochs, lr: o.lr, weightDecay: o.weightDecay, batch: o.batch, warmupEpochs: o.warmupEpochs, seed: o.seed }, onEpoch);
  const last = history[history.length - 1];
  const best = history.reduce((b, e) => (e.val_top1 > b.val_top1 ? e : b), history[0]);
  const result = { weights: init.kind === 'scratch' ? `scratch (${arch}, seed ${o.seed})` : init.path, img_size: fm.cfg.img_size,
    train_images: sets[0].count, val_images: sets[1].count, epochs: o.epochs, val_top1: last.val_top1, val_top5: last.val_top5, best_val_top1: best.val_top1, best_epoch: best.epoch };
  fs.writeFileSync(path.join(o.out, 'probe_result.json'), JSON.stringify(result, null, 2));
  if (o.json) console.log(JSON.stringify(result));
  else console.log(`linear probe top-1 ${pct(last.val_top1)} (top-5 ${pct(last.val_top5)}) after ${o.epochs} epochs; best ${pct(best.val_top1)} at epoch ${best.epoch + 1}`);
  return 0;
}
