// RandAugment as timm implements it (timm/data/auto_augment.py: rand_augment_transform, RandAugment, AugmentOp),
// for the fine-tuning recipe's "rand-m9-mstd0.5-inc1" (spec §6.1): per image, `n` ops drawn uniformly with
// replacement; each applied with probability 0.5 at magnitude ~ N(m, mstd) clipped to [0, 10]; signed ops
// negated with probability 0.5. "inc1" selects the op set whose severity increases with magnitude.
// Geometric ops resample bicubically and fill with the ImageNet mean colour, as timm's create_transform sets it.
// Random numbers come from a UniformRng (the loader draws them in the main thread and replays them here).
import type { UniformRng } from '../rng';
import { IMAGENET_MEAN } from '../transforms';
import * as ops from './image_ops';
import type { Rgb, RgbImage } from './image_ops';

export interface RandAugmentConfig {
  /** Ops per image (timm n, default 2). */
  numOps: number;
  /** Magnitude on timm's 0..10 scale (m). */
  magnitude: number;
  /** Standard deviation of the per-op magnitude (mstd); 0 keeps it fixed. */
  magnitudeStd: number;
  /** The increasing-severity op set (inc1). */
  increasing: boolean;
}

const LEVEL_DENOM = 10;
const OP_PROB = 0.5;
const TRANSLATE_PCT = 0.45;
/** timm's img_mean hparam: round(255 · mean) per channel. */
export const FILL: Rgb = [Math.round(255 * IMAGENET_MEAN[0]), Math.round(255 * IMAGENET_MEAN[1]), Math.round(255 * IMAGENET_MEAN[2])];

type Op = (img: RgbImage, level: number, signed: () => number, increasing: boolean) => RgbImage;

/** timm _randomly_negate: −v with probability 0.5. */
const enhanceFactor = (level: number, sign: () => number, inc: boolean) =>
  inc ? Math.max(0.1, 1 + sign() * (level / LEVEL_DENOM) * 0.9) : (level / LEVEL_DENOM) * 1.8 + 0.1;

/** The op set, in timm's order (_RAND_INCREASING_TRANSFORMS / _RAND_TRANSFORMS). */
export const RAND_OPS: ReadonlyArray<[string, Op]> = [
  ['AutoContrast', (img) => ops.autoContrast(img)],
  ['Equalize', (img) => ops.equalize(img)],
  ['Invert', (img) => ops.invert(img)],
  ['Rotate', (img, level, sign) => ops.rotate(img, sign() * (level / LEVEL_DENOM) * 30, FILL)],
  // increasing: keep 4 down to 0 bits; original: keep 0 up to 4 bits
  ['Posterize', (img, level, _s, inc) => ops.posterize(img, inc ? 4 - Math.trunc((level / LEVEL_DENOM) * 4) : Math.trunc((level / LEVEL_DENOM) * 4))],
  // increasing: threshold 256 down to 0; original: 0 up to 256
  ['Solarize', (img, level, _s, inc) => ops.solarize(img, inc ? 256 - Math.trunc((level / LEVEL_DENOM) * 256) : Math.trunc((level / LEVEL_DENOM) * 256))],
  ['SolarizeAdd', (img, level) => ops.solarizeAdd(img, Math.trunc((level / LEVEL_DENOM) * 110))],
  ['Color', (img, level, sign, inc) => ops.color(img, enhanceFactor(level, sign, inc))],
  ['Contrast', (img, level, sign, inc) => ops.contrast(img, enhanceFactor(level, sign, inc))],
  ['Brightness', (img, level, sign, inc) => ops.brightness(img, enhanceFactor(level, sign, inc))],
  ['Sharpness', (img, level, sign, inc) => ops.sharpness(img, enhanceFactor(level, sign, inc))],
  ['ShearX', (img, level, sign) => ops.shearX(img, sign() * (level / LEVEL_DENOM) * 0.3, FILL)],
  ['ShearY', (img, level, sign) => ops.shearY(img, sign() * (level / LEVEL_DENOM) * 0.3, FILL)],
  ['TranslateXRel', (img, level, sign) => ops.translateXRel(img, sign() * (level / LEVEL_DENOM) * TRANSLATE_PCT, FILL)],
  ['TranslateYRel', (img, level, sign) => ops.translateYRel(img, sign() * (level / LEVEL_DENOM) * TRANSLATE_PCT, FILL)],
];

/** Uniforms one image can consume: per op the choice, the gate, two for the Gaussian magnitude, the sign. */
export function randAugmentUniforms(cfg: RandAugmentConfig): number {
  return cfg.numOps * 5;
}

/** Parses timm's config string, e.g. "rand-m9-mstd0.5-inc1" (n defaults to 2, inc to 0). */
export function parseRandAugment(spec: string): RandAugmentConfig {
  const parts = spec.split('-');
  if (parts[0] !== 'rand') throw new Error(`RandAugment config "${spec}" must start with "rand-" (e.g. rand-m9-mstd0.5-inc1)`);
  const cfg: RandAugmentConfig = { numOps: 2, magnitude: 10, magnitudeStd: 0, increasing: false };
  for (const part of parts.slice(1)) {
    const m = /^(mstd|inc|m|n)([0-9.]+)$/.exec(part);
    if (!m || !Number.isFinite(Number(m[2]))) throw new Error(`RandAugment config "${spec}": unknown part "${part}" (known: m<mag>, n<ops>, mstd<std>, inc<0|1>)`);
    const v = Number(m[2]);
    if (m[1] === 'm') cfg.magnitude = v;
    else if (m[1] === 'n') cfg.numOps = v;
    else if (m[1] === 'mstd') cfg.magnitudeStd = v;
    else cfg.increasing = v !== 0;
  }
  if (!Number.isInteger(cfg.numOps) || cfg.numOps < 0) throw new Error(`RandAugment config "${spec}": n must be a whole number`);
  return cfg;
}

/** Box–Muller normal from two uniforms. */
function gauss(rng: UniformRng, mean: number, std: number): number {
  const u1 = rng.uniform(), u2 = rng.uniform();
  return mean + std * Math.sqrt(-2 * Math.log(1 - u1)) * Math.cos(2 * Math.PI * u2);
}

export function randAugment(img: RgbImage, cfg: RandAugmentConfig, rng: UniformRng): RgbImage {
  const sign = () => (rng.uniform() > 0.5 ? -1 : 1);
  for (let k = 0; k < cfg.numOps; k++) {
    const [, op] = RAND_OPS[Math.min(RAND_OPS.length - 1, Math.floor(rng.uniform() * RAND_OPS.length))];
    if (rng.uniform() > OP_PROB) continue;
    const level = cfg.magnitudeStd > 0 ? gauss(rng, cfg.magnitude, cfg.magnitudeStd) : cfg.magnitude;
    img = op(img, Math.min(LEVEL_DENOM, Math.max(0, level)), sign, cfg.increasing);
  }
  return img;
}
