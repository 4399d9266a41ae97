// Classification fine-tuning end to end (spec §6.1; MAE/iTPN main_finetune.py for the wiring, engine_finetune.py
// for the step): ITPNClassifier from scratch or from pre-trained weights, layer-wise lr decay re-normalised to 12
// layers, AdamW β (0.9, 0.999), per-iteration warmup + cosine, RandAugment + RandomErasing in the decode workers,
// Mixup/CutMix with soft-target cross-entropy and label smoothing, drop path, evaluation after every epoch, `best/`
// and `checkpoint/` (exact --resume), a progress bar, JSONL logs and plots. Mirrors src/pretrain/run.ts.
import * as fs from 'node:fs';
import * as path from 'node:path';
import cliProgress from 'cli-progress';
import type { Backend } from '../engine/backend';
import { backward } from '../engine/autograd';
import { Rng } from '../engine/random';
import { tidy } from '../engine/scope';
import { tensor } from '../ops';
import { BatchLoader, DEFAULT_DECODE_CACHE_MIB } from '../data/loader';
import { parseRandAugment } from '../data/augment/rand_augment';
import type { ITPNConfig } from '../models/itpn/configs';
import { AdamW, clipGradNorm } from '../optim/adamw';
import { layerDecayParamGroups } from '../optim/layer_decay';
import { lrAt, type CosineSchedule } from '../optim/schedule';
import { findCheckpoint, loadCheckpoint, saveCheckpoint, type TrainerState } from '../training/checkpoint';
import { writeConfusionMatrix } from '../viz/confusion_matrix';
import { writeLinePlot } from '../viz/plot';
import { readJsonl, writeJsonl } from '../io/jsonl';
import { listTrainVal } from './data';
import { evaluate, type EvalResult } from './evaluate';
import { mixBatch, mixupEnabled, type MixupConfig } from './mixup';
import { classificationLoss, classifierConfig, createClassifier, type Init, type Targets } from './model';
import { META_KEY, readWeightFile, type ClassifierMeta, type WeightFile } from './weights';
import type { StopRequest } from '../training/interrupt';
import { checkResumeMatches, writeRunConfig } from '../training/run_config';

export interface FinetuneOptions {
  /** Training image folder (one sub-folder per class). */
  data: string;
  /** Validation image folder with the same class sub-folders. */
  val: string;
  arch: string;
  imgSize: number;
  init: Init;
  epochs: number;
  warmupEpochs: number;
  batch: number;
  /** Base lr per 256 images; lr = blr · batch / 256 unless `lr` is given. */
  blr: number;
  lr?: number;
  minLr: number;
  weightDecay: number;
  /** Nominal layer decay of a 12-layer ViT (re-normalised to the model's depth); 1 disables it. */
  layerDecay: number;
  dropPath: number;
  mixup: number;
  cutmix: number;
  mixupProb: number;
  mixupSwitchProb: number;
  smoothing: number;
  /** timm RandAugment spec (rand-m9-mstd0.5-inc1), or null for none. */
  randAug: string | null;
  /** RandomErasing probability. */
  reprob: number;
  clipGrad?: number;
  seed: number;
  out: string;
  resume: boolean;
  /** Stop (with a checkpoint) after this step; continue later with `resume`. */
  stopAt?: number;
  /** Stops the run after the step during which it became requested (Ctrl+C in the CLI), saving a checkpoint. */
  stop?: StopRequest;
  workers?: number;
  /** MiB of decoded images each loader (train, val) keeps between epochs. Default 512; 0: off. */
  decodeCache?: number;
}

export interface FinetuneSummary {
  steps: number;
  epochsDone: number;
  seconds: number;
  imagesPerSecond: number;
  bestTop1: number;
  bestEpoch: number;
  last: EvalRecord | null;
  out: string;
  checkpoint: string;
  best: string;
  skippedImages: string[];
  stopped: boolean;
  /** True when opts.stop (Ctrl+C) ended the run early; `stopped` is then true as well. */
  interrupted: boolean;
}

export interface StepRecord { step: number; epoch: number; loss: number; lr: number; images_per_s: number; grad_norm?: number }
export interface EvalRecord { epoch: number; step: number; train_loss: number; val_loss: number; val_top1: number; val_top5: number }

export const BEST_DIR = 'best';

/** trainer.json of a fine-tuning checkpoint: where the run is, and the best evaluation so far. */
interface FinetuneState extends TrainerState {
  batchInEpoch: number;
  bestTop1: number;
  bestEpoch: number;
}

export async function finetune(backend: Backend, opts: FinetuneOptions, log: (s: string) => void = console.log): Promise<FinetuneSummary> {
  const data = listTrainVal(opts.data, opts.val);
  const K = data.classes.length;
  const S = opts.imgSize;
  const mixCfg: MixupConfig = { mixupAlpha: opts.mixup, cutmixAlpha: opts.cutmix, prob: opts.mixupProb, switchProb: opts.mixupSwitchProb, labelSmoothing: opts.smoothing, numClasses: K };
  if (mixupEnabled(mixCfg) && opts.batch % 2 !== 0) throw new Error(`--batch ${opts.batch}: mixup/cutmix pair each image with the batch flipped and need an even batch`);
  const randAugment = opts.randAug ? parseRandAugment(opts.randAug) : null;
  const stepsPerEpoch = Math.floor(data.train.length / opts.batch);
  if (stepsPerEpoch < 1) throw new Error(`${data.train.length} training images make no full batch of ${opts.batch}`);
  const totalSteps = opts.epochs * stepsPerEpoch;

  const ckpt = opts.resume ? findCheckpoint(opts.out) : null;
  let cfg: ITPNConfig;
  let weights: WeightFile | null = null;
  if (ckpt) {
    const meta = (JSON.parse(fs.readFileSync(path.join(ckpt, 'trainer.json'), 'utf8')) as { meta: ClassifierMeta }).meta;
    if (meta.arch !== opts.arch || meta.config.img_size !== S || meta.classes.join() !== data.classes.join()) {
      throw new Error(`${ckpt} is a run of ${meta.arch} at ${meta.config.img_size}px on classes ${meta.classes.join(', ')}; the options ask for ${opts.arch} at ${S}px on ${data.classes.join(', ')}`);
    }
    cfg = meta.config;
  } else {
    weights = opts.init.kind === 'weights' ? readWeightFile(opts.init.path) : null;
    cfg = classifierConfig({ arch: opts.arch, imgSize: S, numClasses: K, dropPath: opts.dropPath }, weights?.tensors ?? null);
  }
  const rng = new Rng(opts.seed);
  const { model, note } = createClassifier({ backend, rng }, cfg, weights); // refuses weights that do not fit
  model.train();
  fs.mkdirSync(opts.out, { recursive: true });
  const meta: ClassifierMeta = { format: 'itpn-classifier', arch: opts.arch, config: cfg, classes: data.classes, class_names: data.classNames };
  const layout = { mlpDepth1: cfg.mlp_depth1, mlpDepth2: cfg.mlp_depth2, depth: cfg.depth };
  const opt = new AdamW(layerDecayParamGroups(model.namedParameters(), layout, { layerDecay: opts.layerDecay, weightDecay: opts.weightDecay }),
    { beta1: 0.9, beta2: 0.999, eps: 1e-8 });
  const baseLr = opts.lr ?? (opts.blr * opts.batch) / 256;
  const schedule: CosineSchedule = { baseLr, minLr: opts.minLr, warmupSteps: opts.warmupEpochs * stepsPerEpoch, totalSteps };

  let state: FinetuneState = { step: 0, epoch: 0, batchInEpoch: 0, rng: rng.getState(), bestTop1: -1, bestEpoch: -1 };
  const stepLog = path.join(opts.out, 'log.jsonl'), evalLog = path.join(opts.out, 'eval.jsonl');
  if (ckpt) {
    checkResumeMatches(opts.out, { arch: opts.arch, task: 'classify', imgSize: S });
    state = loadCheckpoint(ckpt, model, opt) as FinetuneState;
    rng.setState(state.rng);
    log(`resumed from ${ckpt} at epoch ${state.epoch}, step ${state.step}`);
    writeJsonl(stepLog, readJsonl<StepRecord>(stepLog).filter((r) => r.step <= state.step));
    writeJsonl(evalLog, readJsonl<EvalRecord>(evalLog).filter((r) => r.epoch < state.epoch));
  } else {
    if (opts.resume) log(`no checkpoint in ${opts.out}; starting from the beginning`);
    writeJsonl(stepLog, []);
    writeJsonl(evalLog, []);
    writeRunConfig(opts.out, { arch: opts.arch, task: 'classify', config: cfg, classes: data.classes, class_names: data.classNames }, opts);
    log(`weights: ${note}`);
  }
  log(`fine-tuning ${opts.arch} (${(model.parameterCount() / 1e6).toFixed(2)} M params) on ${data.train.length} images, ${K} classes (${opts.data}); val ${data.val.length} images`);
  log(`  ${S}px, batch ${opts.batch}, ${opts.epochs} epochs × ${stepsPerEpoch} steps, lr ${baseLr.toExponential(3)}${opts.lr ? '' : ` (blr ${opts.blr} × ${opts.batch}/256)`}, warmup ${opts.warmupEpochs} epochs, ` +
    `layer decay ${opts.layerDecay}, wd ${opts.weightDecay}, drop path ${opts.dropPath}, mixup ${opts.mixup}/cutmix ${opts.cutmix}, smoothing ${opts.smoothing}, ` +
    `${opts.randAug ?? 'no RandAugment'}, reprob ${opts.reprob}, backend ${backend.name}`);

  const decodeCacheMiB = opts.decodeCache ?? DEFAULT_DECODE_CACHE_MIB;
  const trainLoader = new BatchLoader({ samples: data.train, batchSize: opts.batch, imgSize: S, train: true, seed: opts.seed, workers: opts.workers,
    scale: [0.08, 1], augment: { randAugment, reprob: opts.reprob }, decodeCacheMiB });
  const valLoader = new BatchLoader({ samples: data.val, batchSize: opts.batch, imgSize: S, train: false, workers: opts.workers, decodeCacheMiB });
  const history = readJsonl<StepRecord>(stepLog);
  const evals = readJsonl<EvalRecord>(evalLog);
  const bar = process.stderr.isTTY
    ? new cliProgress.SingleBar({ format: 'epoch {epoch} step {value}/{total} |{bar}| loss {loss} lr {lr} {ips} img/s ETA {eta_formatted}', hideCursor: true }, cliProgress.Presets.shades_classic)
    : null;
  const say = (s: string) => {
    bar?.stop();
    log(s);
    bar?.start(totalSteps, state.step, { epoch: state.epoch, loss: '-', lr: '-', ips: '-' });
  };
  bar?.start(totalSteps, state.step, { epoch: state.epoch, loss: '-', lr: '-', ips: '-' });
  const started = Date.now();
  let imagesSeen = 0;
  let stopped = false;
  let interrupted = false;
  let lastEval: EvalResult | null = null;
  const saveLatest = () => saveCheckpoint(opts.out, model, opt, { ...state, meta }, { metadata: { [META_KEY]: JSON.stringify(meta) } });

  try {
    while (state.epoch < opts.epochs && !stopped) {
      let batchIndex = 0;
      let stepStart = Date.now();
      for await (const batch of trainLoader.epoch(state.epoch)) {
        if (batchIndex++ < state.batchInEpoch) continue; // resume inside an epoch
        state.batchInEpoch = batchIndex;
        const B = batch.batchSize;
        const mixed = mixupEnabled(mixCfg) ? mixBatch(batch.images, batch.labels, S, S, mixCfg, rng) : null;
        const loss = tidy(() => {
          const logits = model.forward(tensor(backend, mixed ? mixed.images : batch.images, [B, 3, S, S]));
          const targets: Targets = mixed
            ? { kind: 'soft', targets: tensor(backend, mixed.targets, [B, K]) }
            : { kind: 'labels', labels: tensor(backend, batch.labels, [B], 'int32') };
          const l = classificationLoss(logits, targets, opts.smoothing);
          const value = l.item();
          if (!Number.isFinite(value)) throw new Error(`loss is ${value} at step ${state.step}; stopping`);
          backward(l);
          return value;
        });
        const lr = lrAt(state.step, schedule);
        const gradNorm = opts.clipGrad ? clipGradNorm(model.parameters(), opts.clipGrad) : undefined;
        opt.update(lr);
        opt.zeroGrad();
        state.step++;
        imagesSeen += B;
        const now = Date.now();
        const rec: StepRecord = { step: state.step, epoch: state.epoch, loss, lr, images_per_s: (B * 1000) / Math.max(1, now - stepStart) };
        if (gradNorm !== undefined) rec.grad_norm = gradNorm;
        fs.appendFileSync(stepLog, JSON.stringify(rec) + '\n');
        history.push(rec);
        stepStart = now;
        state.rng = rng.getState();
        if (bar) bar.update(state.step, { epoch: state.epoch, loss: loss.toFixed(4), lr: lr.toExponential(2), ips: rec.images_per_s.toFixed(1) });
        else if (state.step % 10 === 0 || state.step === 1) log(`epoch ${state.epoch} step ${state.step}/${totalSteps} loss ${loss.toFixed(4)} lr ${lr.toExponential(2)} ${rec.images_per_s.toFixed(1)} img/s`);
        if (opts.stop?.requested) interrupted = true;
        if ((opts.stopAt !== undefined && state.step >= opts.stopAt) || interrupted) {
          stopped = true;
          break;
        }
      }
      if (stopped) break;
      lastEval = await evaluate(model, valLoader, backend, K);
      const trainLosses = history.filter((r) => r.epoch === state.epoch).map((r) => r.loss);
      const rec: EvalRecord = { epoch: state.epoch, step: state.step, train_loss: mean(trainLosses), val_loss: lastEval.loss, val_top1: lastEval.top1, val_top5: lastEval.top5 };
      fs.appendFileSync(evalLog, JSON.stringify(rec) + '\n');
      evals.push(rec);
      const isBest = lastEval.top1 > state.bestTop1;
      if (isBest) {
        state.bestTop1 = lastEval.top1;
        state.bestEpoch = state.epoch;
        saveCheckpoint(opts.out, model, null, { ...state, meta }, { dir: BEST_DIR, metadata: { [META_KEY]: JSON.stringify(meta) } });
      }
      say(`epoch ${state.epoch}: train loss ${rec.train_loss.toFixed(4)}, val loss ${rec.val_loss.toFixed(4)}, top-1 ${pct(rec.val_top1)}, top-5 ${pct(rec.val_top5)}${isBest ? ' (best)' : ''}`);
      state.epoch = state.epoch + 1;
      state.batchInEpoch = 0;
      state.rng = rng.getState();
      saveLatest();
    }
    if (stopped) saveLatest();
  } finally {
    bar?.stop();
    await trainLoader.close();
    await valLoader.close();
  }

  if (!stopped) await writePlots(opts, history, evals, lastEval, data.classNames);
  const seconds = (Date.now() - started) / 1000;
  return {
    steps: state.step, epochsDone: state.epoch, seconds, imagesPerSecond: imagesSeen / seconds,
    bestTop1: state.bestTop1, bestEpoch: state.bestEpoch, last: evals.length ? evals[evals.length - 1] : null,
    out: opts.out, checkpoint: path.join(opts.out, 'checkpoint'), best: path.join(opts.out, BEST_DIR),
    skippedImages: [...trainLoader.skipped, ...valLoader.skipped], stopped, interrupted,
  };
}

async function writePlots(opts: FinetuneOptions, history: StepRecord[], evals: EvalRecord[], lastEval: EvalResult | null, classNames: string[]): Promise<void> {
  const title = `iTPN fine-tuning: ${opts.arch}, ${opts.imgSize}px, ${opts.init.kind === 'scratch' ? 'from scratch' : `from ${opts.init.path}`}`;
  if (history.length) {
    await writeLinePlot(path.join(opts.out, 'loss.png'), [
      { name: 'train loss (per step)', x: history.map((r) => r.step), y: history.map((r) => r.loss) },
      { name: 'val loss (per epoch)', x: evals.map((r) => r.step), y: evals.map((r) => r.val_loss) },
    ], { title, xLabel: 'step', yLabel: 'cross-entropy' });
  }
  if (evals.length) {
    await writeLinePlot(path.join(opts.out, 'accuracy.png'), [
      { name: 'val top-1', x: evals.map((r) => r.epoch + 1), y: evals.map((r) => r.val_top1) },
      { name: 'val top-5', x: evals.map((r) => r.epoch + 1), y: evals.map((r) => r.val_top5) },
    ], { title, xLabel: 'epoch', yLabel: 'accuracy' });
  }
  if (lastEval) await writeConfusionMatrix(path.join(opts.out, 'confusion_matrix.png'), lastEval.confusion, classNames, { title: `val, epoch ${evals.length}` });
}

export function pct(x: number): string {
  return `${(100 * x).toFixed(2)}%`;
}

function mean(xs: number[]): number {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN;
}

