// Pre-training end to end (spec §3, §4, §5): data, model, AdamW, per-iteration warmup + half-cosine, gradient
// accumulation, checkpoints with exact resume, a JSONL log, reconstruction grids (pixel) and a loss plot.
// Variants: pixel MIM (itpn_pixel/main_pretrain.py + engine_pretrain.py) and CLIP distillation
// (itpn_clip/run_itpn_pretraining.py + engine_for_pretraining.py), each optionally with per-level MFM (mfm.ts).
import * as fs from 'node:fs';
import * as path from 'node:path';
import cliProgress from 'cli-progress';
import type { Backend } from '../engine/backend';
import { backward } from '../engine/autograd';
import { Rng } from '../engine/random';
import { tidy } from '../engine/scope';
import type { Tensor } from '../engine/tensor';
import { affine, layerNorm, slice, tensor } from '../ops';
import { BatchLoader, DEFAULT_DECODE_CACHE_MIB } from '../data/loader';
import { listImageFolder } from '../data/image_folder';
import { taskConfig } from '../models/itpn/factory';
import type { ITPNConfig } from '../models/itpn/configs';
import { ITPNMaskedAutoencoder, maskingNoise } from '../models/itpn/pixel_mim';
import { ITPNClipDistill } from '../models/itpn/clip_distill';
import { ITPNClipDistillMFM, ITPNMaskedAutoencoderMFM, LEVEL_SCALES, levelTarget, type MFMConfig, type MFMLossKind } from '../models/itpn/mfm';
import { AdamW, clipGradNorm } from '../optim/adamw';
import { pretrainParamGroups } from '../optim/param_groups';
import { lrAt, type CosineSchedule } from '../optim/schedule';
import { writeLinePlot } from '../viz/plot';
import { readJsonl, writeJsonl } from '../io/jsonl';
import { findCheckpoint, loadCheckpoint, saveCheckpoint, type TrainerState } from '../training/checkpoint';
import { writeReconstructionGrid } from './reconstruction';
import { blockMaskBatch, scaledBlockMaskOptions, type BlockMaskOptions } from './masking_generator';
import { loadTeacher, type Teacher, type TeacherFeatures, type TeacherOptions } from './teacher';
import { TeacherCache } from './teacher_cache';
import type { StopRequest } from '../training/interrupt';
import { checkResumeMatches, writeRunConfig } from '../training/run_config';

export type PretrainVariant = 'pixel' | 'clip';

export interface MFMOptions {
  /** Loss weight per level (stride 16, 8, 4). */
  weights: [number, number, number];
  /** Teacher layer per level: null = the final target, k = the hidden state after k teacher blocks. */
  layers: [number | null, number | null, number | null];
  loss: MFMLossKind;
}

export interface TeacherCacheOptions {
  dir: string;
  /** Replay the augmentation of epochs 0 … K−1 (epoch e uses e mod K), so cached targets are reused within the run. */
  epochs?: number;
}

export interface PretrainOptions {
  data: string;
  arch: string;
  imgSize: number;
  batch: number;
  accumIter: number;
  steps: number;
  /** Base lr per 256 images; lr = blr · effective batch / 256 unless `lr` is given. */
  blr: number;
  lr?: number;
  minLr: number;
  /** Linear warmup steps; default 10% of the steps. */
  warmupSteps?: number;
  weightDecay: number;
  clipGrad?: number;
  seed: number;
  out: string;
  resume: boolean;
  workers?: number;
  /** MiB of decoded images kept between epochs (BatchLoader's decodeCacheMiB). Default 512; 0: off. */
  decodeCache?: number;
  vizEvery: number;
  saveEvery: number;
  maskRatio: number;
  /** If set, `steps` is derived: epochs × full batches per epoch (the last partial batch is dropped). */
  epochs?: number;
  /** Stop (with a checkpoint) after this step even though the schedule runs to `steps`; resume later. */
  stopAt?: number;
  /** Stops the run after the step during which it became requested (Ctrl+C in the CLI), saving a checkpoint. */
  stop?: StopRequest;
  /** Default pixel. clip needs `teacher`. */
  variant?: PretrainVariant;
  /** The frozen teacher: CLIP for the clip variant; CLIP or an itpn checkpoint for MFM. */
  teacher?: TeacherOptions;
  mfm?: MFMOptions;
  /** AdamW betas; default (0.9, 0.95) pixel, (0.9, 0.98) clip. */
  betas?: [number, number];
  /** Stochastic depth; default 0 pixel, 0.1 clip. */
  dropPath?: number;
  /** ColorJitter(v, v, v) on each image before the crop; default 0.4 clip (the official transform), 0 pixel. */
  colorJitter?: number;
  /** clip: patches masked per image (default round(75/196·N)) and the smallest block (default max(1, round(16/196·N))). */
  maskPatches?: number;
  minMaskPatches?: number;
  teacherCache?: TeacherCacheOptions;
}

export interface PretrainSummary {
  variant: PretrainVariant;
  steps: number;
  seconds: number;
  imagesPerSecond: number;
  firstLoss: number;
  lastLoss: number;
  out: string;
  checkpoint: string;
  skippedImages: string[];
  /** True when opts.stop ended the run early. */
  interrupted: boolean;
}

/** One line of log.jsonl; `parts` holds the loss terms of the variant (loss_1/loss_2, loss_pixel, loss_mfm, loss_mfm_i). */
interface LogRecord { step: number; loss: number; lr: number; images_per_s: number; epoch: number; grad_norm?: number; [part: string]: number | undefined }

type Model = ITPNMaskedAutoencoder | ITPNClipDistill;

export async function pretrain(backend: Backend, opts: PretrainOptions, log: (s: string) => void = console.log): Promise<PretrainSummary> {
  const { samples } = listImageFolder(opts.data); // throws a clear error for a missing or empty folder
  if (opts.epochs) opts = { ...opts, steps: opts.epochs * Math.floor(samples.length / (opts.batch * opts.accumIter)) };
  const warmupSteps = opts.warmupSteps ?? Math.round(opts.steps / 10);
  const variant = opts.variant ?? 'pixel';
  const isClip = variant === 'clip';
  const grid = opts.imgSize / 16;
  fs.mkdirSync(opts.out, { recursive: true });
  let teacher: Teacher | null = null;
  if (isClip || opts.mfm) {
    if (!opts.teacher) throw new Error(isClip ? 'the clip variant needs a teacher (--teacher CLIP weights)' : 'MFM needs a teacher (--teacher CLIP weights or an itpn checkpoint)');
    teacher = loadTeacher(backend, opts.teacher, log);
    if (isClip && teacher.kind !== 'clip') throw new Error(`the clip variant distils a CLIP tower; ${opts.teacher.path} is an itpn checkpoint`);
  }
  const overrides: Record<string, unknown> = { img_size: opts.imgSize };
  if (isClip) {
    overrides.teacher_dim = teacher!.finalDim;
    overrides.drop_path_rate = opts.dropPath ?? 0.1;
  } else {
    overrides.mask_ratio = opts.maskRatio;
    if (opts.dropPath !== undefined) overrides.drop_path_rate = opts.dropPath;
  }
  const cfg: ITPNConfig = taskConfig(opts.arch, variant, overrides);
  const mfm: MFMConfig | null = opts.mfm ? {
    targetDims: opts.mfm.layers.map((k) => (k === null ? teacher!.finalDim : teacher!.tapDim)) as [number, number, number],
    weights: opts.mfm.weights,
    loss: opts.mfm.loss,
  } : null;
  const taps = opts.mfm ? [...new Set(opts.mfm.layers.filter((k): k is number => k !== null))] : [];
  for (const k of taps) if (k < 1 || k > teacher!.depth) throw new Error(`--mfm-layers ${k}: the teacher has ${teacher!.depth} blocks`);
  const maskOpts: BlockMaskOptions = { ...scaledBlockMaskOptions(grid, grid) };
  if (opts.maskPatches !== undefined) maskOpts.numMasking = opts.maskPatches;
  if (opts.minMaskPatches !== undefined) maskOpts.minPatches = opts.minMaskPatches;
  const rng = new Rng(opts.seed);
  const ctx = { backend, rng };
  // the MFM heads are built after the base model, so its initialisation does not depend on --mfm
  const model: Model = isClip
    ? (mfm ? new ITPNClipDistillMFM(ctx, cfg, mfm) : new ITPNClipDistill(ctx, cfg))
    : (mfm ? new ITPNMaskedAutoencoderMFM(ctx, cfg, mfm) : new ITPNMaskedAutoencoder(ctx, cfg));
  model.train();
  // CLIP pre-training also exempts absolute_pos_embed from weight decay (spec §4.2)
  const groups = pretrainParamGroups(model.namedParameters(), opts.weightDecay, isClip ? ['absolute_pos_embed'] : []);
  const [beta1, beta2] = opts.betas ?? (isClip ? [0.9, 0.98] : [0.9, 0.95]);
  const opt = new AdamW(groups, { beta1, beta2, eps: 1e-8 });
  const clipGrad = opts.clipGrad ?? (isClip ? 3.0 : undefined);
  const effBatch = opts.batch * opts.accumIter;
  const baseLr = opts.lr ?? (opts.blr * effBatch) / 256;
  const schedule: CosineSchedule = { baseLr, minLr: opts.minLr, warmupSteps, totalSteps: opts.steps };
  // the official CLIP transform jitters colour before the shared crop, so student and teacher see the same jittered view
  const colorJitter = opts.colorJitter ?? (isClip ? 0.4 : 0);
  const cache = opts.teacherCache && teacher ? new TeacherCache(opts.teacherCache.dir, {
    teacher: path.resolve(opts.teacher!.path), size: fs.statSync(opts.teacher!.path).size, mtime: fs.statSync(opts.teacher!.path).mtimeMs,
    input: opts.teacher!.input, taps, data: path.resolve(opts.data), variant, seed: opts.seed, imgSize: opts.imgSize, batch: opts.batch,
    ...(colorJitter > 0 ? { colorJitter } : {}),
  }) : null;
  const dataEpoch = (e: number) => (cache && opts.teacherCache!.epochs ? e % opts.teacherCache!.epochs : e);

  let state: TrainerState = { step: 0, epoch: 0, batchInEpoch: 0, rng: rng.getState() };
  const logFile = path.join(opts.out, 'log.jsonl');
  const ckpt = opts.resume ? findCheckpoint(opts.out) : null;
  if (opts.resume && !ckpt) log(`no checkpoint in ${opts.out}; starting from scratch`);
  if (ckpt) {
    checkResumeMatches(opts.out, { arch: opts.arch, task: variant, imgSize: opts.imgSize });
    state = loadCheckpoint(ckpt, model, opt);
    rng.setState(state.rng);
    log(`resumed from ${ckpt} at step ${state.step}`);
    truncateLog(logFile, state.step);
  } else {
    fs.writeFileSync(logFile, '');
    writeRunConfig(opts.out, { arch: opts.arch, task: variant, config: cfg, mfm }, opts);
  }
  log(`pre-training ${opts.arch} (${(model.parameterCount() / 1e6).toFixed(2)} M params) on ${samples.length} images from ${opts.data}`);
  log(`  ${variant}${mfm ? ' + MFM' : ''}, ${opts.imgSize}px, batch ${opts.batch} × accum ${opts.accumIter} = ${effBatch}, lr ${baseLr.toExponential(3)}${opts.lr === undefined ? ` (blr ${opts.blr} × ${effBatch}/256)` : ''}, warmup ${warmupSteps}, ${opts.steps} steps, betas (${beta1}, ${beta2}), clip grad ${clipGrad ?? 'off'}, drop path ${cfg.drop_path_rate}${colorJitter > 0 ? `, colour jitter ${colorJitter}` : ''}, backend ${backend.name}`);
  if (teacher) log(`  teacher: ${teacher.description}`);
  if (isClip) log(`  block masking: ${maskOpts.numMasking} of ${grid * grid} patches, blocks of ≥ ${maskOpts.minPatches}`);
  if (mfm) log(`  MFM: ${mfm.loss}, weights ${mfm.weights.join(',')}, targets ${opts.mfm!.layers.map((k) => (k === null ? 'final' : `block ${k}`)).join(',')}${isClip ? '' : ' (heads on the decoder output, depth-to-space)'}`);

  // one crop for student and teacher; CLIP pre-training crops with scale 0.08–1 (its min_crop_scale argument is unused, spec §5)
  const scale: [number, number] = isClip ? [0.08, 1] : [0.2, 1];
  const loader = new BatchLoader({ samples, batchSize: opts.batch, imgSize: opts.imgSize, train: true, seed: opts.seed, workers: opts.workers, scale,
    colorJitter, decodeCacheMiB: opts.decodeCache ?? DEFAULT_DECODE_CACHE_MIB });
  const N = (opts.imgSize / 16) ** 2;
  const bar = process.stderr.isTTY
    ? new cliProgress.SingleBar({ format: 'step {value}/{total} |{bar}| loss {loss} lr {lr} {ips} img/s ETA {eta_formatted}', hideCursor: true }, cliProgress.Presets.shades_classic)
    : null;
  bar?.start(opts.steps, state.step, { loss: '-', lr: '-', ips: '-' });
  const history = readJsonl<LogRecord>(logFile);
  const lastStep = Math.min(opts.steps, opts.stopAt ?? opts.steps);
  const started = Date.now();
  let imagesSeen = 0;
  let stepStart = Date.now();
  let micro = 0;
  let lossAcc = 0;
  let partsAcc: Record<string, number> = {};
  let lastBatchImages: Float32Array | null = null;
  let interrupted = false;

  try {
    while (state.step < lastStep) {
      let batchIndex = 0;
      for await (const batch of loader.epoch(dataEpoch(state.epoch as number))) {
        if (batchIndex++ < (state.batchInEpoch as number)) continue; // resume inside an epoch
        state.batchInEpoch = batchIndex;
        lastBatchImages = batch.images;
        const step = tidy(() => {
          const images = tensor(backend, batch.images, [opts.batch, 3, opts.imgSize, opts.imgSize]);
          const parts: Record<string, Tensor> = {};
          let loss: Tensor;
          if (model instanceof ITPNMaskedAutoencoder) {
            const noise = maskingNoise(backend, opts.batch, N, () => rng.uniform());
            if (model instanceof ITPNMaskedAutoencoderMFM) {
              const out = model.forwardMFM(images, noise, mfmTargets(teacherFeatures(images, batch.paths, batchIndex - 1)));
              Object.assign(parts, { loss_pixel: out.loss_pixel, loss_mfm: out.loss_mfm }, mfmParts(out.loss_mfm_levels));
              loss = out.loss;
            } else {
              loss = model.forwardTrainLoss(images, noise).loss;
            }
          } else {
            const mask = blockMaskBatch(backend, opts.batch, maskOpts, rng);
            const feats = teacherFeatures(images, batch.paths, batchIndex - 1);
            const target = layerNorm(feats.final, null, null, 1e-5); // [B, N, T], affine-free
            if (model instanceof ITPNClipDistillMFM) {
              const out = model.forwardMFM(images, mask, target, mfmTargets(feats));
              Object.assign(parts, { loss_1: out.loss_1, loss_2: out.loss_2, loss_mfm: out.loss_mfm }, mfmParts(out.loss_mfm_levels));
              loss = out.loss;
            } else {
              const out = model.forward(images, mask, target);
              Object.assign(parts, { loss_1: out.loss_1, loss_2: out.loss_2 });
              loss = out.loss;
            }
          }
          const value = loss.item();
          if (!Number.isFinite(value)) throw new Error(`loss is ${value} at step ${state.step}; stopping`);
          backward(opts.accumIter > 1 ? affine(loss, 1 / opts.accumIter, 0) : loss);
          return { value, parts: Object.fromEntries(Object.entries(parts).map(([k, t]) => [k, t.item()])) };
        });
        const loss = step.value;
        for (const [k, v] of Object.entries(step.parts)) partsAcc[k] = (partsAcc[k] ?? 0) + v;
        lossAcc += loss;
        imagesSeen += opts.batch;
        if (++micro < opts.accumIter) continue;
        const lr = lrAt(state.step, schedule);
        const gradNorm = clipGrad ? clipGradNorm(model.parameters(), clipGrad) : undefined;
        opt.update(lr);
        opt.zeroGrad();
        state.step++;
        const now = Date.now();
        const rec: LogRecord = { step: state.step, loss: lossAcc / micro, lr, images_per_s: (effBatch * 1000) / (now - stepStart), epoch: state.epoch };
        for (const [k, v] of Object.entries(partsAcc)) rec[k] = v / micro;
        if (gradNorm !== undefined) rec.grad_norm = gradNorm;
        fs.appendFileSync(logFile, JSON.stringify(rec) + '\n');
        history.push(rec);
        stepStart = now;
        micro = 0;
        lossAcc = 0;
        partsAcc = {};
        if (bar) bar.update(state.step, { loss: rec.loss.toFixed(4), lr: lr.toExponential(2), ips: rec.images_per_s.toFixed(1) });
        else if (state.step % 10 === 0 || state.step === 1 || state.step === opts.steps) {
          log(`step ${state.step}/${opts.steps} loss ${rec.loss.toFixed(4)} lr ${lr.toExponential(2)} ${rec.images_per_s.toFixed(1)} img/s`);
        }
        state.rng = rng.getState();
        if (!isClip && opts.vizEvery > 0 && state.step % opts.vizEvery === 0) await writeGrid(path.join(opts.out, `reconstruction-${String(state.step).padStart(6, '0')}.png`));
        if (state.step === opts.steps || (opts.saveEvery > 0 && state.step % opts.saveEvery === 0)) saveCheckpoint(opts.out, model, opt, state);
        if (opts.stop?.requested) interrupted = true; // the checkpoint below is saved as after --stop-at
        if (state.step >= lastStep || interrupted) break;
      }
      if (state.step >= lastStep || interrupted) break;
      state.epoch = (state.epoch as number) + 1;
      state.batchInEpoch = 0;
    }
  } finally {
    bar?.stop();
    await loader.close();
  }

  /** Teacher features of a batch, from the cache when one is configured. */
  function teacherFeatures(images: Tensor, paths: string[], batchInEpoch: number): TeacherFeatures {
    if (!cache) return teacher!.features(images, taps);
    const e = dataEpoch(state.epoch as number);
    const hit = cache.get(backend, e, batchInEpoch, paths);
    if (hit) return hit;
    const feats = teacher!.features(images, taps);
    cache.put(e, batchInEpoch, paths, feats);
    return feats;
  }

  /** Per-level MFM targets [B, N, s, s, Tᵢ] from the teacher's final tokens or the chosen taps. */
  function mfmTargets(feats: TeacherFeatures): Tensor[] {
    return LEVEL_SCALES.map((s, i) => {
      const k = opts.mfm!.layers[i];
      return levelTarget(k === null ? feats.final : feats.taps.get(k)!, grid, grid, s);
    });
  }

  function mfmParts(levels: Tensor[]): Record<string, Tensor> {
    return Object.fromEntries(levels.map((l, i) => [`loss_mfm_${i}`, l]));
  }

  async function writeGrid(file: string): Promise<void> {
    if (!lastBatchImages || !(model instanceof ITPNMaskedAutoencoder)) return;
    const rows = Math.min(4, opts.batch);
    const vizRng = new Rng(opts.seed + 1); // the same masks every time, so grids are comparable across steps
    model.eval();
    const cells = tidy(() => {
      const images = slice(tensor(backend, lastBatchImages!, [opts.batch, 3, opts.imgSize, opts.imgSize]), 0, 0, rows);
      return { images, noise: maskingNoise(backend, rows, N, () => vizRng.uniform()) };
    });
    await writeReconstructionGrid(file, model as ITPNMaskedAutoencoder, cells.images, cells.noise);
    cells.images.dispose();
    cells.noise.dispose();
    model.train();
  }

  const checkpoint = saveCheckpoint(opts.out, model, opt, state);
  if (!isClip) await writeGrid(path.join(opts.out, 'reconstruction.png'));
  const series = [{ name: isClip ? 'train loss (SmoothL1, pyramid + aux heads)' : 'train loss (norm-pix MSE, masked patches)', x: history.map((r) => r.step), y: history.map((r) => r.loss) }];
  if (mfm) series.push({ name: 'MFM part', x: history.map((r) => r.step), y: history.map((r) => r.loss_mfm ?? NaN) });
  await writeLinePlot(path.join(opts.out, 'loss.png'), series,
    { title: `iTPN ${variant}${mfm ? ' + MFM' : ''} pre-training: ${opts.arch}, ${opts.imgSize}px, batch ${effBatch}`, xLabel: 'step', yLabel: 'loss' });
  if (cache) log(`teacher cache ${cache.dir}: ${cache.hits} hits, ${cache.misses} misses`);
  const seconds = (Date.now() - started) / 1000;
  const firstLoss = history.length ? mean(history.slice(0, 5).map((r) => r.loss)) : NaN;
  const lastLoss = history.length ? mean(history.slice(-5).map((r) => r.loss)) : NaN;
  return { variant, steps: state.step, seconds, imagesPerSecond: imagesSeen / seconds, firstLoss, lastLoss, out: opts.out, checkpoint, skippedImages: [...loader.skipped], interrupted };
}

function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** After a resume, drop log lines from steps past the checkpoint (they will be recomputed). */
function truncateLog(file: string, step: number): void {
  writeJsonl(file, readJsonl<LogRecord>(file).filter((r) => r.step <= step));
}
