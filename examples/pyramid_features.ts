// Pyramid features of images from a pre-training checkpoint, in a TypeScript program: the run folder of `itpn
// pretrain`, its model.safetensors, or an official .pth (then give the architecture). In your own project import
// from 'itpn' instead of '../src'.
//   node dist/examples/pyramid_features.js runs/default data/imagenette-mini/val/n01440764/*.jpg
import { computeFeatures, createCpuBackend, decodeImageFiles, loadFeatureModel, noGrad, stackImages, tensor, tidy } from '../src';

export interface FeatureArray {
  shape: number[];
  data: Float32Array;
}

/** `embedding` [B, C] and `pyramid.s4` … `pyramid.s64` [B, fpn_dim, S/s, S/s] for the images that could be read. */
export async function pyramidFeatures(checkpoint: string, images: string[], arch?: string): Promise<Map<string, FeatureArray>> {
  const backend = createCpuBackend();
  const fm = loadFeatureModel(backend, checkpoint, { arch, withPyramid: true });
  try {
    const S = fm.cfg.img_size;
    // resize the short side, centre-crop S×S, ImageNet mean/std: the evaluation preprocessing of the official code
    const { ok, failed } = await decodeImageFiles(images, S);
    for (const f of failed) console.error(`could not read ${f.path}: ${f.error}`);
    if (ok.length === 0) throw new Error('none of the images could be read');
    // noGrad: no autograd graph; tidy: every tensor made inside is freed when it returns, only plain arrays leave
    return tidy(() => noGrad(() => {
      const feats = computeFeatures(fm, tensor(backend, stackImages(ok), [ok.length, 3, S, S]));
      return new Map([...feats].map(([name, t]) => [name, { shape: [...t.shape], data: t.toFloat32Array() }]));
    }));
  } finally {
    fm.model.dispose();
  }
}

if (require.main === module) {
  const [checkpoint, ...images] = process.argv.slice(2);
  if (!checkpoint || images.length === 0) {
    console.error('usage: node dist/examples/pyramid_features.js CHECKPOINT IMAGE...');
    process.exit(2);
  }
  pyramidFeatures(checkpoint, images).then((feats) => {
    for (const [name, f] of feats) console.log(`${name.padEnd(12)} [${f.shape.join(', ')}]`);
  }, (e: Error) => {
    console.error(e.message);
    process.exit(1);
  });
}
