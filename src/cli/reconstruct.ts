// `itpn reconstruct <images...> --checkpoint C`: what a pixel pre-training checkpoint reconstructs of the given images
// under a seeded random mask, as one picture (original | masked | reconstruction | reconstruction + visible, a row
// per image) and the masked-patch loss. Unreadable files are reported by name; the exit code is 1 if any failed.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Rng } from '../engine/random';
import { noGrad, tidy } from '../engine/scope';
import { tensor } from '../ops';
import { decodeImageFiles, stackImages } from '../finetune/images';
import { maskingNoise } from '../models/itpn/pixel_mim';
import { loadPixelModel } from '../pretrain/pixel_model';
import { writeReconstructionGrid } from '../pretrain/reconstruction';
import { createBackend } from './backend_choice';

export interface ReconstructCliOptions {
  checkpoint: string;
  out: string;
  arch?: string;
  maskRatio?: number;
  seed: number;
  backend: string;
  threads?: number;
}

export async function reconstructCommand(paths: string[], o: ReconstructCliOptions): Promise<number> {
  const backend = createBackend(o.backend, o.threads);
  const { model, cfg, describe } = loadPixelModel(backend, o.checkpoint, { arch: o.arch, maskRatio: o.maskRatio });
  try {
    console.log(`reconstructing with ${describe}`);
    const S = cfg.img_size, N = (S / cfg.patch_size) ** 2;
    const { ok, failed } = await decodeImageFiles(paths, S);
    for (const f of failed) console.error(`itpn reconstruct: ${f.path}: ${f.error}`);
    if (ok.length === 0) {
      console.error(`none of the ${paths.length} images could be read; nothing written`);
      return 1;
    }
    const rng = new Rng(o.seed);
    const images = tensor(backend, stackImages(ok), [ok.length, 3, S, S]);
    const noise = maskingNoise(backend, ok.length, N, () => rng.uniform());
    try {
      // the normalised-pixel MSE over the masked patches, the pre-training loss
      const loss = noGrad(() => tidy(() => model.forward(images, noise).loss.item()));
      fs.mkdirSync(path.dirname(path.resolve(o.out)), { recursive: true });
      await writeReconstructionGrid(o.out, model, images, noise);
      console.log(`${ok.length} images, ${Math.round(cfg.mask_ratio * 100)}% of ${N} patches masked (seed ${o.seed}): loss ${loss.toFixed(4)} on the masked patches`);
      console.log(`wrote ${o.out} (columns: original | masked | reconstruction | reconstruction + visible)`);
    } finally {
      images.dispose();
      noise.dispose();
    }
    if (failed.length) console.error(`${failed.length} of ${paths.length} images could not be read`);
    return failed.length ? 1 : 0;
  } finally {
    model.dispose();
  }
}
