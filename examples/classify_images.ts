// Top-k classes of images from a fine-tuned classifier (the run folder of `itpn finetune`, its best/ folder or a
// model.safetensors), in a TypeScript program. In your own project import from 'itpn' instead of '../src'.
//   node dist/examples/classify_images.js runs/finetune img1.jpg img2.jpg
import { createCpuBackend, decodeImageFiles, loadClassifier, noGrad, ops, stackImages, tensor, tidy } from '../src';

export interface Classified {
  path: string;
  top: Array<{ name: string; prob: number }>;
}

export async function classifyImages(checkpoint: string, images: string[], k = 5): Promise<Classified[]> {
  const backend = createCpuBackend();
  const { model, meta } = loadClassifier(backend, checkpoint);
  try {
    const S = meta.config.img_size;
    const { ok, failed } = await decodeImageFiles(images, S);
    for (const f of failed) console.error(`could not read ${f.path}: ${f.error}`);
    if (ok.length === 0) throw new Error('none of the images could be read');
    const kk = Math.min(k, meta.classes.length);
    const { values, indices } = tidy(() => noGrad(() =>
      ops.topk(ops.softmax(model.forward(tensor(backend, stackImages(ok), [ok.length, 3, S, S]))), kk)));
    return ok.map((im, i) => ({
      path: im.path,
      top: Array.from({ length: kk }, (_, j) => ({ name: meta.class_names[indices[i * kk + j]], prob: values[i * kk + j] })),
    }));
  } finally {
    model.dispose();
  }
}

if (require.main === module) {
  const [checkpoint, ...images] = process.argv.slice(2);
  if (!checkpoint || images.length === 0) {
    console.error('usage: node dist/examples/classify_images.js CHECKPOINT IMAGE...');
    process.exit(2);
  }
  classifyImages(checkpoint, images).then((rows) => {
    for (const r of rows) console.log(r.path, r.top.map((t) => `${t.name} ${(100 * t.prob).toFixed(1)}%`).join(', '));
  }, (e: Error) => {
    console.error(e.message);
    process.exit(1);
  });
}
