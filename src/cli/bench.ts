// `itpn bench train`: our pixel pre-training step and the project's PyTorch reference (bench/torch_train_step.py,
// the same model written from the spec) timed in one run on the same machine; medians and their ratio.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { timePixelTrainStep } from '../bench/train_step';
import { packageRoot } from '../backends/cpu/binding';
import { createBackend } from './backend_choice';

export interface BenchTrainOptions {
  arch: string;
  imgSize: number;
  batch: number;
  steps: number;
  warmup: number;
  backend: string;
  threads?: number;
  python: string;
  torch: boolean;
  json: boolean;
}

export function benchTrainCommand(o: BenchTrainOptions): number {
  const threads = o.threads ?? os.availableParallelism();
  const ours = timePixelTrainStep(createBackend(o.backend, threads), o.arch, o.imgSize, o.batch, o.steps, o.warmup);
  let torch: { images_per_s: number; step_ms_median: number; torch_version?: string } | null = null;
  let torchError: string | null = null;
  if (o.torch) {
    const script = path.join(packageRoot(), 'bench', 'torch_train_step.py');
    const args = [script, '--arch', o.arch, '--img-size', String(o.imgSize), '--batch', String(o.batch), '--steps', String(o.steps), '--warmup', String(o.warmup), '--threads', String(threads), '--json'];
    if (!fs.existsSync(script)) torchError = `${script} not found`;
    else {
      const r = spawnSync(o.python, args, { encoding: 'utf8', maxBuffer: 1 << 24 });
      if (r.status !== 0) torchError = `PyTorch reference failed (${o.python}): ${(r.stderr || r.error?.message || '').trim().split('\n').slice(-3).join(' ')}`;
      else torch = JSON.parse(r.stdout.trim().split('\n').pop()!);
    }
  }
  const result = {
    arch: o.arch, img_size: o.imgSize, batch: o.batch, steps: o.steps, threads, cpu: os.cpus()[0]?.model,
    itpn: { backend: o.backend, images_per_s: ours.images_per_s, step_ms_median: ours.step_ms_median },
    torch, ratio: torch ? ours.images_per_s / torch.images_per_s : null, torch_error: torchError,
  };
  if (o.json) console.log(JSON.stringify(result));
  else {
    console.log(`pixel pre-training step, ${o.arch} ${o.imgSize}px batch ${o.batch}, ${threads} threads, ${result.cpu}`);
    console.log(`  itpn (${o.backend})  ${ours.images_per_s.toFixed(2)} img/s  (median step ${ours.step_ms_median.toFixed(1)} ms over ${o.steps})`);
    if (torch) console.log(`  PyTorch ${torch.torch_version ?? ''}  ${torch.images_per_s.toFixed(2)} img/s  (median step ${torch.step_ms_median.toFixed(1)} ms)`);
    if (torch) console.log(`  ratio itpn/PyTorch  ${result.ratio!.toFixed(2)}×`);
    if (torchError) console.log(`  PyTorch reference not run: ${torchError}`);
  }
  return 0;
}
