// Pixel pre-training end to end (spec §3.1, §4.1, §5): data, model, AdamW, per-iteration warmup + half-cosine,
// gradient accumulation, checkpoints with exact resume, a JSONL log, reconstruction grids and a loss plot.
// Mirrors itpn_pixel/main_pretrain.py (wiring) and engine_pretrain.py (the step).
import * as fs from 'node:fs';
import * as path from 'node:path';
import cliProgress from 'cli-progress';
import type { Backend } from '../engine/backend';
import { backward } from '../engine/autograd';
import { Rng } from '../engine/random';
import { tidy } from '../engine/scope';
import { affine, slice, tensor } from '../ops';
import { BatchLoader } from '../data/loader';
import { listImageFolder } from '../data/image_folder';
import { taskConfig } from '../models/itpn/factory';
import type { ITPNConfig } from '../models/itpn/configs';
import { ITPNMaskedAutoencoder, maskingNoise } from '../models/itpn/pixel_mim';
import { AdamW, clipGradNorm } from '../optim/adamw';
import { pretrainParamGroups } from '../optim/param_groups';
import { lrAt, type CosineSchedule } from '../optim/schedule';
import { writeLinePlot } from '../viz/plot';
import { findCheckpoint, loadCheckpoint, saveCheckpoint, type TrainerState } from './checkpoint';
import { writeReconstructionGrid } from './reconstruction';

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
  vizEvery: number;
  saveEvery: number;
  maskRatio: number;
  /** If set, `steps` is derived: epochs × full batches per epoch (the last partial batch is dropped). */
  epochs?: number;
  /** Stop (with a checkpoint) after this step even though the schedule runs to `steps`; resume later. */
  stopAt?: number;
}

export interface PretrainSummary {
  steps: number;
  seconds: number;
  imagesPerSecond: number;
  firstLoss: number;
  lastLoss: number;
  out: string;
  checkpoint: string;
  skippedImages: string[];
}

interface LogRecord { step: number; loss: number; lr: number; images_per_s: number; epoch: number; grad_norm?: number }

export async function pretrain(backend: Backend, opts: PretrainOptions, log: (s: string) => void = console.log): Promise<PretrainSummary> {
  const { samples } = listImageFolder(opts.data); // throws a clear error for a missing or empty folder
  if (opts.epochs) opts = { ...opts, steps: opts.epochs * Math.floor(samples.length / (opts.batch * opts.accumIter)) };
  const warmupSteps = opts.warmupSteps ?? Math.round(opts.steps / 10);
  const cfg: ITPNConfig = taskConfig(opts.arch, 'pixel', { img_size: opts.imgSize, mask_ratio: opts.maskRatio });
  fs.mkdirSync(opts.out, { recursive: true });
  const rng = new Rng(opts.seed);
  const model = new ITPNMaskedAutoencoder({ backend, rng }, cfg);
  model.train();
  const groups = pretrainParamGroups(model.namedParameters(), opts.weightDecay);
  const opt = new AdamW(groups, { beta1: 0.9, beta2: 0.95, eps: 1e-8 });
  const effBatch = opts.batch * opts.accumIter;
  const baseLr = opts.lr ?? (opts.blr * effBatch) / 256;
  const schedule: CosineSchedule = { baseLr, minLr: opts.minLr, warmupSteps, totalSteps: opts.steps };

  let state: TrainerState = { step: 0, epoch: 0, batchInEpoch: 0, rng: rng.getState() };
  const logFile = path.join(opts.out, 'log.jsonl');
  const ckpt = opts.resume ? findCheckpoint(opts.out) : null;
  if (opts.resume && !ckpt) log(`no checkpoint in ${opts.out}; starting from scratch`);
  if (ckpt) {
    state = loadCheckpoint(ckpt, model, opt);
    rng.setState(state.rng);
    log(`resumed from ${ckpt} at step ${state.step}`);
    truncateLog(logFile, state.step);
  } else {
    fs.writeFileSync(logFile, '');
    fs.writeFileSync(path.join(opts.out, 'config.json'), JSON.stringify({ arch: opts.arch, task: 'pixel', config: cfg, options: opts }, null, 2));
  }
  log(`pre-training ${opts.arch} (${(model.parameterCount() / 1e6).toFixed(2)} M params) on ${samples.length} images from ${opts.data}`);
  log(`  ${opts.imgSize}px, batch ${opts.batch} × accum ${opts.accumIter} = ${effBatch}, lr ${baseLr.toExponential(3)} (blr ${opts.blr} × ${effBatch}/256), warmup ${warmupSteps}, ${opts.steps} steps, backend ${backend.name}`);

  const loader = new BatchLoader({ samples, batchSize: opts.batch, imgSize: opts.imgSize, train: true, seed: opts.seed, workers: opts.workers, scale: [0.2, 1] });
  const N = (opts.imgSize / 16) ** 2;
  const bar = process.stderr.isTTY
    ? new cliProgress.SingleBar({ format: 'step {value}/{total} |{bar}| loss {loss} lr {lr} {ips} img/s ETA {eta_formatted}', hideCursor: true }, cliProgress.Presets.shades_classic)
    : null;
  bar?.start(opts.steps, state.step, { loss: '-', lr: '-', ips: '-' });
  const history: LogRecord[] = readLog(logFile);
  const lastStep = Math.min(opts.steps, opts.stopAt ?? opts.steps);
  const started = Date.now();
  let imagesSeen = 0;
  let stepStart = Date.now();
  let micro = 0;
  let lossAcc = 0;
  let lastBatchImages: Float32Array | null = null;

  try {
    while (state.step < lastStep) {
      let batchIndex = 0;
      for await (const batch of loader.epoch(state.epoch)) {
        if (batchIndex++ < (state.batchInEpoch as number)) continue; // resume inside an epoch
        state.batchInEpoch = batchIndex;
        lastBatchImages = batch.images;
        const loss = tidy(() => {
          const images = tensor(backend, batch.images, [opts.batch, 3, opts.imgSize, opts.imgSize]);
          const noise = maskingNoise(backend, opts.batch, N, () => rng.uniform());
          const out = model.forward(images, noise);
          const value = out.loss.item();
          if (!Number.isFinite(value)) throw new Error(`loss is ${value} at step ${state.step}; stopping`);
          backward(opts.accumIter > 1 ? affine(out.loss, 1 / opts.accumIter, 0) : out.loss);
          return value;
        });
        lossAcc += loss;
        imagesSeen += opts.batch;
        if (++micro < opts.accumIter) continue;
        const lr = lrAt(state.step, schedule);
        const gradNorm = opts.clipGrad ? clipGradNorm(model.parameters(), opts.clipGrad) : undefined;
        opt.update(lr);
        opt.zeroGrad();
        state.step++;
        const now = Date.now();
        const rec: LogRecord = { step: state.step, loss: lossAcc / micro, lr, images_per_s: (effBatch * 1000) / (now - stepStart), epoch: state.epoch };
        if (gradNorm !== undefined) rec.grad_norm = gradNorm;
        fs.appendFileSync(logFile, JSON.stringify(rec) + '\n');
        history.push(rec);
        stepStart = now;
        micro = 0;
        lossAcc = 0;
        if (bar) bar.update(state.step, { loss: rec.loss.toFixed(4), lr: lr.toExponential(2), ips: rec.images_per_s.toFixed(1) });
        else if (state.step % 10 === 0 || state.step === 1 || state.step === opts.steps) {
          log(`step ${state.step}/${opts.steps} loss ${rec.loss.toFixed(4)} lr ${lr.toExponential(2)} ${rec.images_per_s.toFixed(1)} img/s`);
        }
        state.rng = rng.getState();
        if (opts.vizEvery > 0 && state.step % opts.vizEvery === 0) await writeGrid(path.join(opts.out, `reconstruction-${String(state.step).padStart(6, '0')}.png`));
        if (state.step === opts.steps || (opts.saveEvery > 0 && state.step % opts.saveEvery === 0)) saveCheckpoint(opts.out, model, opt, state);
        if (state.step >= lastStep) break;
      }
      if (state.step >= lastStep) break;
      state.epoch = (state.epoch as number) + 1;
      state.batchInEpoch = 0;
    }
  } finally {
    bar?.stop();
    await loader.close();
  }

  async function writeGrid(file: string): Promise<void> {
    if (!lastBatchImages) return;
    const rows = Math.min(4, opts.batch);
    const vizRng = new Rng(opts.seed + 1); // the same masks every time, so grids are comparable across steps
    model.eval();
    const cells = tidy(() => {
      const images = slice(tensor(backend, lastBatchImages!, [opts.batch, 3, opts.imgSize, opts.imgSize]), 0, 0, rows);
      return { images, noise: maskingNoise(backend, rows, N, () => vizRng.uniform()) };
    });
    await writeReconstructionGrid(file, model, cells.images, cells.noise);
    cells.images.dispose();
    cells.noise.dispose();
    model.train();
  }

  const checkpoint = saveCheckpoint(opts.out, model, opt, state);
  await writeGrid(path.join(opts.out, 'reconstruction.png'));
  await writeLinePlot(path.join(opts.out, 'loss.png'), [{ name: 'train loss (norm-pix MSE, masked patches)', x: history.map((r) => r.step), y: history.map((r) => r.loss) }],
    { title: `iTPN pixel pre-training: ${opts.arch}, ${opts.imgSize}px, batch ${effBatch}`, xLabel: 'step', yLabel: 'loss' });
  const seconds = (Date.now() - started) / 1000;
  const firstLoss = history.length ? mean(history.slice(0, 5).map((r) => r.loss)) : NaN;
  const lastLoss = history.length ? mean(history.slice(-5).map((r) => r.loss)) : NaN;
  return { steps: state.step, seconds, imagesPerSecond: imagesSeen / seconds, firstLoss, lastLoss, out: opts.out, checkpoint, skippedImages: [...loader.skipped] };
}

function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

function readLog(file: string): LogRecord[] {
  if (!fs.existsSync(file)) return [];
  return fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as LogRecord);
}

/** After a resume, drop log lines from steps past the checkpoint (they will be recomputed). */
function truncateLog(file: string, step: number): void {
  const kept = readLog(file).filter((r) => r.step <= step);
  fs.writeFileSync(file, kept.map((r) => JSON.stringify(r) + '\n').join(''));
}
