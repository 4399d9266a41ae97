// `itpn eval --checkpoint C --data D`: top-1, top-5, loss and per-class accuracy of a fine-tuned classifier on an
// image folder (the checkpoint's class folders), with a confusion-matrix PNG and metrics.json.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BatchLoader } from '../data/loader';
import { listImageFolder } from '../data/image_folder';
import { classesFromFolder } from '../finetune/data';
import { evaluate } from '../finetune/evaluate';
import { loadClassifier } from '../finetune/model';
import { pct } from '../finetune/run';
import { writeConfusionMatrix } from '../viz/confusion_matrix';
import { createBackend } from './backend_choice';
import { imageProgress } from './progress';
import { writeStdout } from './finetune';

export interface EvalCliOptions {
  checkpoint: string;
  data: string;
  out?: string;
  batch: number;
  json: boolean;
  arch?: string;
  backend: string;
  threads?: number;
  workers?: number;
}

/** runs/x for runs/x/best/model.safetensors or runs/x/checkpoint/model.safetensors; else the file's folder. */
export function runFolderOf(file: string): string {
  const dir = path.dirname(file);
  return ['best', 'checkpoint'].includes(path.basename(dir)) ? path.dirname(dir) : dir;
}

export async function evalCommand(o: EvalCliOptions): Promise<number> {
  const backend = createBackend(o.backend, o.threads);
  const loaded = loadClassifier(backend, o.checkpoint, { arch: o.arch });
  const { model, file } = loaded;
  const meta = loaded.classesKnown ? loaded.meta : { ...loaded.meta, ...classesFromFolder(o.data, loaded.meta.classes.length) };
  if (!loaded.classesKnown) console.error(`${file} names no classes: label i is the i-th class folder of ${o.data} in sorted order (torchvision's ImageFolder, as the official fine-tuning)`);
  const { samples } = listImageFolder(o.data, { classes: meta.classes, layout: 'classes' });
  const loader = new BatchLoader({ samples, batchSize: o.batch, imgSize: meta.config.img_size, train: false, workers: o.workers });
  let r;
  const progress = imageProgress('evaluating', samples.length);
  try {
    r = await evaluate(model, loader, backend, meta.classes.length, (done) => progress.update(done));
  } finally {
    progress.stop();
    await loader.close();
  }
  const out = o.out ?? path.join(runFolderOf(file), 'eval');
  fs.mkdirSync(out, { recursive: true });
  const png = path.join(out, 'confusion_matrix.png');
  await writeConfusionMatrix(png, r.confusion, meta.class_names, { title: `${meta.arch} on ${o.data}: top-1 ${pct(r.top1)}` });
  const perClass = meta.classes.map((c, i) => ({ class: c, name: meta.class_names[i], images: r.confusion[i].reduce((a, b) => a + b, 0), correct: r.confusion[i][i], accuracy: r.perClass[i] }));
  const metrics = { checkpoint: file, data: o.data, images: r.count, skipped: loader.skipped, top1: r.top1, top5: r.top5, loss: r.loss, per_class: perClass, confusion: r.confusion };
  fs.writeFileSync(path.join(out, 'metrics.json'), JSON.stringify(metrics, null, 2));
  if (o.json) {
    await writeStdout([JSON.stringify(metrics)]);
    return 0;
  }
  const width = Math.max(...perClass.map((p) => `${p.name} (${p.class})`.length));
  await writeStdout([
    `${meta.arch} ${file} on ${o.data}: ${r.count} images, ${meta.classes.length} classes`,
    `top-1 ${pct(r.top1)}   top-5 ${pct(r.top5)}   loss ${r.loss.toFixed(4)}`,
    ...perClass.map((p) => {
      const acc = Number.isNaN(p.accuracy) ? '   -   ' : pct(p.accuracy).padStart(7);
      return `  ${`${p.name} (${p.class})`.padEnd(width)}  ${String(p.correct).padStart(5)}/${String(p.images).padEnd(5)} ${acc}`;
    }),
    `confusion matrix ${png}`,
    `metrics          ${path.join(out, 'metrics.json')}`,
  ]);
  return 0;
}
