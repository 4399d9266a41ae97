// `itpn finetune`: parses options, prints the resolved setup (or only the layer-decay table with
// --print-param-groups), runs classification fine-tuning and prints the summary.
import * as path from 'node:path';
import { Rng } from '../engine/random';
import { classifierConfig, createClassifier, parseInit } from '../finetune/model';
import { finetune, pct, type FinetuneOptions } from '../finetune/run';
import { withInterrupts } from '../training/interrupt';
import { layerDecayTable } from '../optim/layer_decay';
import { createBackend, precisionNotice } from './backend_choice';

export interface FinetuneCliOptions extends Omit<FinetuneOptions, 'init' | 'val' | 'randAug'> {
  from?: string;
  val?: string;
  aa: string;
  backend: string;
  threads?: number;
  printParamGroups: boolean;
  json: boolean;
  numClasses: number;
}

export async function finetuneCommand(o: FinetuneCliOptions): Promise<number> {
  if (o.printParamGroups) return printParamGroups(o);
  if (!o.from) throw new Error('say where the weights start: --from <pre-training checkpoint folder | model.safetensors | official .pth> or --from scratch');
  const opts: FinetuneOptions = {
    ...o, init: parseInit(o.from), val: o.val ?? path.join(path.dirname(path.resolve(o.data)), 'val'),
    randAug: o.aa === 'none' ? null : o.aa,
  };
  const backend = createBackend(o.backend, o.threads);
  const notice = precisionNotice();
  if (notice) console.log(notice);
  const s = await withInterrupts((stop) => finetune(backend, { ...opts, stop }));
  const rel = (p: string) => path.relative(process.cwd(), p) || '.';
  if (s.interrupted) {
    console.log(`\ninterrupted at step ${s.steps}; checkpoint ${rel(s.checkpoint)}/ saved. Continue with the same command plus --resume.`);
    return 130;
  }
  if (s.stopped) {
    console.log(`\nstopped at step ${s.steps} as asked (--stop-at); continue with --resume. checkpoint ${rel(s.checkpoint)}`);
    return 0;
  }
  console.log(`\ndone: ${s.epochsDone} epochs, ${s.steps} steps in ${s.seconds.toFixed(1)} s, ${s.imagesPerSecond.toFixed(1)} training images/s`);
  if (s.last) console.log(`last epoch: val top-1 ${pct(s.last.val_top1)}, top-5 ${pct(s.last.val_top5)}; best top-1 ${pct(s.bestTop1)} (epoch ${s.bestEpoch})`);
  if (s.skippedImages.length) console.log(`skipped ${s.skippedImages.length} unreadable images: ${s.skippedImages.slice(0, 5).join(', ')}`);
  console.log(`best weights    ${rel(s.best)}/model.safetensors`);
  console.log(`last checkpoint ${rel(s.checkpoint)}/ (resumable)`);
  console.log(`plots           ${rel(path.join(s.out, 'loss.png'))}, ${rel(path.join(s.out, 'accuracy.png'))}, ${rel(path.join(s.out, 'confusion_matrix.png'))}`);
  console.log(`logs            ${rel(path.join(s.out, 'log.jsonl'))} (steps), ${rel(path.join(s.out, 'eval.jsonl'))} (epochs)`);
  return 0;
}

/**
 * Writes to stdout and waits until the text is handed to the OS: the dispatcher calls process.exit right after a
 * command returns, which can cut off a long output still queued for a pipe.
 */
export function writeStdout(lines: string[]): Promise<void> {
  return new Promise((resolve, reject) => process.stdout.write(lines.map((l) => l + '\n').join(''), (e) => (e ? reject(e) : resolve())));
}

/** The classifier's parameters with their layer id, lr scale and weight decay; needs no data and no weights. */
async function printParamGroups(o: FinetuneCliOptions): Promise<number> {
  const backend = createBackend('reference', undefined, 'float32');
  const cfg = classifierConfig({ arch: o.arch, imgSize: o.imgSize, numClasses: o.numClasses, dropPath: o.dropPath }, null);
  const { model } = createClassifier({ backend, rng: new Rng(0), shapeOnly: true }, cfg, null);
  const rows = layerDecayTable(model.namedParameters(), { mlpDepth1: cfg.mlp_depth1, mlpDepth2: cfg.mlp_depth2, depth: cfg.depth },
    { layerDecay: o.layerDecay, weightDecay: o.weightDecay });
  model.dispose();
  if (o.json) {
    await writeStdout(rows.map((r) => JSON.stringify(r)));
    return 0;
  }
  const L = cfg.mlp_depth1 + cfg.mlp_depth2 + cfg.depth + 1;
  const width = Math.max(...rows.map((r) => r.name.length));
  await writeStdout([
    `# ${o.arch}: L = ${L}, layer decay ${o.layerDecay} → ${(o.layerDecay ** (13 / L)).toPrecision(6)} per layer, weight decay ${o.weightDecay}`,
    ...rows.map((r) => `${r.name.padEnd(width)}  layer ${String(r.layer_id).padStart(2)}  lr_scale ${r.lr_scale.toPrecision(6)}  weight_decay ${r.weight_decay}`),
  ]);
  return 0;
}
