// Timing of one pixel pre-training step (forward, backward, AdamW) and of one classifier forward pass (eval,
// no autograd) on synthetic data: the numbers `itpn bench train` and `itpn bench infer` compare with the PyTorch
// reference. Run as a script (`node train_step.js '<job json>'`), it measures one job in a fresh process and
// prints one JSON line that includes the process's peak resident memory, so the number is ours alone.
import { loadNative } from '../backends/cpu/binding';
import type { Backend } from '../engine/backend';
import { backward } from '../engine/autograd';
import { Rng } from '../engine/random';
import { noGrad, tidy } from '../engine/scope';
import { tensor } from '../ops';
import { taskConfig } from '../models/itpn/factory';
import { ITPNClassifier } from '../models/itpn/classifier';
import { ITPNMaskedAutoencoder, maskingNoise } from '../models/itpn/pixel_mim';
import { AdamW } from '../optim/adamw';
import { pretrainParamGroups } from '../optim/param_groups';
import { createBackend } from '../cli/backend_choice';
import { cpuMs, formatProfile, profileBackend } from './profile';
import { median } from './median';

export interface StepTiming {
  images_per_s: number;
  step_ms_median: number;
  step_ms: number[];
  /** CPU time of the process per step (all threads): with one thread, a measure that other load does not inflate. */
  step_cpu_ms_median: number;
}

export interface StepHooks {
  /** Called once after the warm-up steps, before the timed ones (profilers reset here). */
  afterWarmup?: () => void;
}

function timeSteps(batch: number, steps: number, warmup: number, step: () => void, hooks: StepHooks): StepTiming {
  const times: number[] = [], cpu: number[] = [];
  for (let i = 0; i < warmup + steps; i++) {
    if (i === warmup) hooks.afterWarmup?.();
    const t0 = process.hrtime.bigint(), c0 = cpuMs();
    step();
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (i >= warmup) {
      times.push(ms);
      cpu.push(cpuMs() - c0);
    }
  }
  const med = median(times);
  return { images_per_s: (batch * 1000) / med, step_ms_median: med, step_ms: times, step_cpu_ms_median: median(cpu) };
}

export function timePixelTrainStep(backend: Backend, arch: string, imgSize: number, batch: number, steps: number, warmup: number,
  hooks: StepHooks = {}): StepTiming {
  const rng = new Rng(0);
  const model = new ITPNMaskedAutoencoder({ backend, rng }, taskConfig(arch, 'pixel', { img_size: imgSize }));
  const opt = new AdamW(pretrainParamGroups(model.namedParameters(), 0.05), { beta1: 0.9, beta2: 0.95, eps: 1e-8 });
  const imgs = new Float32Array(batch * 3 * imgSize * imgSize);
  rng.fillNormal(imgs);
  const N = (imgSize / 16) ** 2;
  const timing = timeSteps(batch, steps, warmup, () => tidy(() => {
    const out = model.forwardTrainLoss(tensor(backend, imgs, [batch, 3, imgSize, imgSize]), maskingNoise(backend, batch, N, () => rng.uniform()));
    backward(out.loss);
    opt.update(1e-4);
    opt.zeroGrad();
    out.loss.item();
  }), hooks);
  model.dispose();
  return timing;
}

/** Classifier forward (RPE on, 1000 classes, as fine-tuning builds it) in eval mode without autograd. */
export function timeClassifierForward(backend: Backend, arch: string, imgSize: number, batch: number, steps: number, warmup: number,
  hooks: StepHooks = {}): StepTiming {
  const rng = new Rng(0);
  const model = new ITPNClassifier({ backend, rng }, taskConfig(arch, 'classify', { img_size: imgSize })).eval();
  const imgs = new Float32Array(batch * 3 * imgSize * imgSize);
  rng.fillNormal(imgs);
  const timing = timeSteps(batch, steps, warmup, () => noGrad(() => tidy(() => {
    model.forward(tensor(backend, imgs, [batch, 3, imgSize, imgSize])).toArray();
  })), hooks);
  model.dispose();
  return timing;
}

export interface BenchJob {
  kind: 'train' | 'infer';
  arch: string;
  imgSize: number;
  batch: number;
  steps: number;
  warmup: number;
  backend: string;
  threads: number;
  /** Time every kernel (ITPN_PROFILE) and return the table: 'wall' or 'cpu' clock, or null for no profile. */
  profile: 'wall' | 'cpu' | null;
}

export interface BenchJobResult extends StepTiming {
  peak_rss_mib: number;
  /** The GEMM library the addon used (the cpu backend), as the addon reports it; null on other backends. */
  gemm: string | null;
  profile?: string;
}

export function runBenchJob(job: BenchJob): BenchJobResult {
  let backend = createBackend(job.backend, job.threads);
  const prof = job.profile ? profileBackend(backend, job.profile === 'cpu' ? cpuMs : undefined) : null;
  if (prof) backend = prof.backend;
  const time = job.kind === 'train' ? timePixelTrainStep : timeClassifierForward;
  const t = time(backend, job.arch, job.imgSize, job.batch, job.steps, job.warmup, { afterWarmup: () => prof?.reset() });
  const peak = process.resourceUsage().maxRSS / 1024; // maxRSS is in KiB
  const meanMs = job.profile === 'cpu' ? t.step_cpu_ms_median : t.step_ms.reduce((p, x) => p + x, 0) / t.step_ms.length;
  const table = prof ? formatProfile(prof.rows(), job.steps, meanMs) + `\npeak live tensor storage ${(prof.peakLiveBytes() / 2 ** 20).toFixed(0)} MiB` : null;
  const gemm = job.backend === 'cpu' ? loadNative().getGemmLibrary() : null;
  return { ...t, peak_rss_mib: peak, gemm, ...(table ? { profile: table } : {}) };
}

if (require.main === module) {
  try {
    const r = runBenchJob(JSON.parse(process.argv[2]) as BenchJob);
    process.stdout.write(JSON.stringify(r) + '\n');
  } catch (e) {
    // the parent (itpn bench) reports the failure; the message is what the user needs, the stack only when debugging
    process.stderr.write(`itpn bench: ${(e as Error).message}\n${process.env.ITPN_DEBUG ? `${(e as Error).stack}\n` : ''}`);
    process.exitCode = 2;
  }
}
