// Timing of one pixel pre-training step (forward, backward, AdamW) on synthetic data: the number `itpn bench
// train` compares with the PyTorch reference.
import type { Backend } from '../engine/backend';
import { backward } from '../engine/autograd';
import { Rng } from '../engine/random';
import { tidy } from '../engine/scope';
import { tensor } from '../ops';
import { taskConfig } from '../models/itpn/factory';
import { ITPNMaskedAutoencoder, maskingNoise } from '../models/itpn/pixel_mim';
import { AdamW } from '../optim/adamw';
import { pretrainParamGroups } from '../optim/param_groups';

export interface StepTiming {
  images_per_s: number;
  step_ms_median: number;
  step_ms: number[];
}

export function timePixelTrainStep(backend: Backend, arch: string, imgSize: number, batch: number, steps: number, warmup: number): StepTiming {
  const rng = new Rng(0);
  const model = new ITPNMaskedAutoencoder({ backend, rng }, taskConfig(arch, 'pixel', { img_size: imgSize }));
  const opt = new AdamW(pretrainParamGroups(model.namedParameters(), 0.05), { beta1: 0.9, beta2: 0.95, eps: 1e-8 });
  const imgs = new Float32Array(batch * 3 * imgSize * imgSize);
  rng.fillNormal(imgs);
  const N = (imgSize / 16) ** 2;
  const times: number[] = [];
  for (let i = 0; i < warmup + steps; i++) {
    const t0 = process.hrtime.bigint();
    tidy(() => {
      const out = model.forward(tensor(backend, imgs, [batch, 3, imgSize, imgSize]), maskingNoise(backend, batch, N, () => rng.uniform()));
      backward(out.loss);
      opt.update(1e-4);
      opt.zeroGrad();
      out.loss.item();
    });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (i >= warmup) times.push(ms);
  }
  model.dispose();
  const sorted = [...times].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)];
  return { images_per_s: (batch * 1000) / median, step_ms_median: median, step_ms: times };
}
