// `itpn pretrain`: parses options, prints the resolved setup, runs pixel pre-training and prints the summary.
import * as path from 'node:path';
import { pretrain, type PretrainOptions } from '../pretrain/run';
import { createBackend } from './backend_choice';

export interface PretrainCliOptions extends Omit<PretrainOptions, 'resume'> {
  backend: string;
  threads?: number;
  resume: boolean;
  variant: string;
}

export async function pretrainCommand(o: PretrainCliOptions): Promise<number> {
  if (o.variant !== 'pixel') throw new Error(`--variant ${o.variant}: only pixel pre-training is implemented so far (CLIP distillation is tracked in its own issue)`);
  const backend = createBackend(o.backend, o.threads);
  const summary = await pretrain(backend, o);
  const rel = (p: string) => path.relative(process.cwd(), p) || '.';
  console.log(`\ndone: ${summary.steps} steps in ${summary.seconds.toFixed(1)} s, ${summary.imagesPerSecond.toFixed(1)} images/s`);
  console.log(`loss ${summary.firstLoss.toFixed(4)} (first 5 steps) → ${summary.lastLoss.toFixed(4)} (last 5 steps)`);
  if (summary.skippedImages.length) console.log(`skipped ${summary.skippedImages.length} unreadable images: ${summary.skippedImages.slice(0, 5).join(', ')}`);
  console.log(`checkpoint      ${rel(summary.checkpoint)}/model.safetensors (+ optimizer.safetensors, trainer.json)`);
  console.log(`reconstruction  ${rel(path.join(summary.out, 'reconstruction.png'))}`);
  console.log(`loss curve      ${rel(path.join(summary.out, 'loss.png'))}`);
  console.log(`step log        ${rel(path.join(summary.out, 'log.jsonl'))}`);
  return 0;
}
