// torchvision ColorJitter(brightness=v, contrast=v, saturation=v) on a PIL image, the first step of the official CLIP
// pre-training transform (spec §5: ColorJitter(0.4, 0.4, 0.4), then the flip, then one shared RandomResizedCrop).
// Each factor is drawn from U[max(0, 1 − v), 1 + v] and the three adjustments run in a random order (torchvision's
// randperm over four, hue skipped when it is 0, leaves a uniformly random order of the other three), each through
// PIL's ImageEnhance: Brightness, Contrast and Color (saturation).
import type { UniformRng } from '../rng';
import { brightness, color, contrast, type RgbImage } from './image_ops';

/** Uniforms one image consumes: two for the order (Fisher–Yates over three), three for the factors. */
export const COLOR_JITTER_UNIFORMS = 5;

const ADJUSTMENTS = [brightness, contrast, color] as const;

export function colorJitter(img: RgbImage, strength: number, rng: UniformRng): RgbImage {
  const order = [0, 1, 2];
  for (let i = 2; i > 0; i--) {
    const j = Math.floor(rng.uniform() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  const lo = Math.max(0, 1 - strength), hi = 1 + strength;
  const factors = [0, 1, 2].map(() => lo + rng.uniform() * (hi - lo)); // brightness, contrast, saturation
  let out = img;
  for (const k of order) out = ADJUSTMENTS[k](out, factors[k]);
  return out;
}
