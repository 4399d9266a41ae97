// `itpn features <images...> --checkpoint C --out F.safetensors`: the pooled embedding and, for pre-training
// checkpoints, the pyramid maps at strides 4, 8, 16, 32 and 64, stacked over the images that could be read (their
// paths in the file's metadata). Unreadable files are reported by name; the exit code is 1 if any failed.
import { noGrad, tidy } from '../engine/scope';
import { tensor } from '../ops';
import type { RawTensor } from '../io/raw_tensor';
import { writeSafetensors } from '../io/safetensors';
import { computeFeatures, loadFeatureModel } from '../finetune/features';
import { concatFloat32, forEachDecodedBatch, stackImages } from '../finetune/images';
import { createBackend } from './backend_choice';
import { imageProgress } from './progress';

export interface FeaturesCliOptions {
  checkpoint: string;
  out: string;
  arch?: string;
  imgSize?: number;
  batch: number;
  /** false: the pooled embedding only (--no-pyramid). */
  pyramid: boolean;
  backend: string;
  threads?: number;
}

export async function featuresCommand(paths: string[], o: FeaturesCliOptions): Promise<number> {
  const backend = createBackend(o.backend, o.threads);
  const fm = loadFeatureModel(backend, o.checkpoint, { arch: o.arch, imgSize: o.imgSize, withPyramid: o.pyramid });
  const S = fm.cfg.img_size;
  console.log(`features of ${fm.describe}`);
  const ok: string[] = [];
  const parts = new Map<string, { shape: number[]; rows: Float32Array[] }>();
  const progress = imageProgress('features', paths.length);
  const failed = await forEachDecodedBatch(paths, S, o.batch, (images) => {
    const outs = tidy(() => noGrad(() => {
      const feats = computeFeatures(fm, tensor(backend, stackImages(images), [images.length, 3, S, S]));
      return [...feats].map(([name, t]) => ({ name, shape: t.shape.slice(1), data: t.toFloat32Array() }));
    }));
    for (const { name, shape, data } of outs) {
      if (!parts.has(name)) parts.set(name, { shape, rows: [] });
      parts.get(name)!.rows.push(data);
    }
    ok.push(...images.map((im) => im.path));
  }, progress.update).finally(() => progress.stop());
  for (const f of failed) console.error(`itpn features: ${f.path}: ${f.error}`);
  if (ok.length === 0) {
    console.error(`none of the ${paths.length} images could be read; nothing written`);
    return 1;
  }
  const tensors = new Map<string, RawTensor>();
  for (const [name, { shape, rows }] of parts) tensors.set(name, { dtype: 'F32', shape: [ok.length, ...shape], data: concatFloat32(rows) });
  writeSafetensors(o.out, tensors, { paths: JSON.stringify(ok), checkpoint: o.checkpoint, img_size: String(S) });
  console.log(`wrote ${o.out}: ${ok.length} images`);
  for (const [name, t] of tensors) console.log(`  ${name.padEnd(14)} [${t.shape.join(', ')}]`);
  if (failed.length) console.error(`${failed.length} of ${paths.length} images could not be read`);
  return failed.length ? 1 : 0;
}
