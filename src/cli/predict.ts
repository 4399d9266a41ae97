// `itpn predict <images...> --checkpoint C`: the top-5 classes (names from the checkpoint's metadata) with their
// probabilities, per image in the order given. Unreadable files are reported by name, the others still run, and
// the exit code is 1 if any failed.
import { noGrad, tidy } from '../engine/scope';
import { softmax, tensor, topk } from '../ops';
import { forEachDecodedBatch, stackImages } from '../finetune/images';
import { classesFromFolder } from '../finetune/data';
import { loadClassifier } from '../finetune/model';
import { createBackend } from './backend_choice';
import { imageProgress } from './progress';
import { writeStdout } from './finetune';

export interface PredictCliOptions {
  checkpoint: string;
  topk: number;
  batch: number;
  json: boolean;
  arch?: string;
  /** Class folders (sorted = label order) naming the classes of weights without a class list. */
  classesFrom?: string;
  backend: string;
  threads?: number;
}

export interface Prediction {
  path: string;
  top: Array<{ index: number; class: string; name: string; prob: number }>;
}

export async function predictCommand(paths: string[], o: PredictCliOptions): Promise<number> {
  const backend = createBackend(o.backend, o.threads);
  const loaded = loadClassifier(backend, o.checkpoint, { arch: o.arch });
  const model = loaded.model;
  // weights without a class list print class_0, class_1, … unless a folder of the training classes names them
  const meta = !loaded.classesKnown && o.classesFrom ? { ...loaded.meta, ...classesFromFolder(o.classesFrom, loaded.meta.classes.length) } : loaded.meta;
  const S = meta.config.img_size, K = meta.classes.length, k = Math.min(o.topk, K);
  const results = new Map<string, Prediction>();
  const progress = imageProgress('predicting', paths.length);
  const failed = await forEachDecodedBatch(paths, S, o.batch, (group) => {
    const { values, indices } = tidy(() => noGrad(() => topk(softmax(model.forward(tensor(backend, stackImages(group), [group.length, 3, S, S]))), k)));
    group.forEach((im, i) => results.set(im.path, {
      path: im.path,
      top: Array.from({ length: k }, (_, j) => {
        const c = indices[i * k + j];
        return { index: c, class: meta.classes[c], name: meta.class_names[c], prob: values[i * k + j] };
      }),
    }));
  }, progress.update).finally(() => progress.stop());
  const errors = new Map(failed.map((f) => [f.path, f.error]));
  const out: string[] = [];
  for (const p of paths) {
    const r = results.get(p);
    if (!r) {
      console.error(`itpn predict: ${p}: ${errors.get(p)}`);
      if (o.json) out.push(JSON.stringify({ path: p, error: errors.get(p) }));
    } else if (o.json) {
      out.push(JSON.stringify(r));
    } else {
      out.push(p, ...r.top.map((t, j) => `  ${j + 1}. ${(100 * t.prob).toFixed(2).padStart(6)}%  ${t.name}${t.name !== t.class ? ` (${t.class})` : ''}`));
    }
  }
  await writeStdout(out);
  if (failed.length) console.error(`${failed.length} of ${paths.length} images could not be read`);
  return failed.length ? 1 : 0;
}
