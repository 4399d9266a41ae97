// The fine-tuning augmentations that run in the decode worker after RandomResizedCrop (timm create_transform,
// is_training=True): horizontal flip, RandAugment on the 8-bit pixels, normalisation, RandomErasing on the
// normalised tensor. All random numbers are pre-drawn by the loader, so results do not depend on worker timing.
import type { UniformRng } from '../rng';
import { normalizeToChw } from '../transforms';
import { flipHorizontal, toRgb } from './image_ops';
import { randAugment, randAugmentUniforms, type RandAugmentConfig } from './rand_augment';
import { RANDOM_ERASING_UNIFORMS, randomErasing } from './random_erasing';

export interface AugmentConfig {
  /** null: no RandAugment. */
  randAugment: RandAugmentConfig | null;
  /** RandomErasing probability (0: off). */
  reprob: number;
}

/** Uniforms per image beyond the crop and flip draws. */
export function augmentUniforms(cfg: AugmentConfig): number {
  return (cfg.randAugment ? randAugmentUniforms(cfg.randAugment) : 0) + (cfg.reprob > 0 ? RANDOM_ERASING_UNIFORMS : 0);
}

/** Cropped, resized pixels (HWC bytes) → flipped, augmented, ImageNet-normalised CHW float32. */
export function augmentAndNormalize(pixels: Uint8Array, width: number, height: number, channels: number, flip: boolean,
  cfg: AugmentConfig, rng: UniformRng): Float32Array {
  let img = toRgb(pixels, width, height, channels);
  if (flip) img = flipHorizontal(img);
  if (cfg.randAugment) img = randAugment(img, cfg.randAugment, rng);
  const chw = normalizeToChw(img.data, width, height, 3);
  if (cfg.reprob > 0) randomErasing(chw, 3, height, width, cfg.reprob, rng);
  return chw;
}
