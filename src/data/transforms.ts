// Pure image-transform maths. Random choices come from a UniformRng so that the caller decides
// where they are drawn (the loader draws them in the main thread and replays them in workers).
import type { UniformRng } from './rng';

export interface CropRect {
  left: number;
  top: number;
  width: number;
  height: number;
}

export const IMAGENET_MEAN: readonly [number, number, number] = [0.485, 0.456, 0.406];
export const IMAGENET_STD: readonly [number, number, number] = [0.229, 0.224, 0.225];

/** Eval resize ratio: shorter side becomes imgSize / 0.875 before the centre crop (256 for 224). */
export const DEFAULT_CROP_PCT = 0.875;

/** Python 3 round(): halves go to the even neighbour. torchvision's crop sizes depend on it. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * torchvision RandomResizedCrop.get_params: 10 tries of area ~ U(scale) and log-uniform aspect ratio;
 * if none fits, a centre crop of the whole image clamped to the ratio range.
 */
export function sampleRandomResizedCrop(
  width: number,
  height: number,
  rng: UniformRng,
  scale: readonly [number, number] = [0.2, 1],
  ratio: readonly [number, number] = [3 / 4, 4 / 3],
): CropRect {
  const area = width * height;
  const logRatioMin = Math.log(ratio[0]);
  const logRatioMax = Math.log(ratio[1]);
  for (let attempt = 0; attempt < 10; attempt++) {
    const targetArea = area * (scale[0] + rng.uniform() * (scale[1] - scale[0]));
    const aspect = Math.exp(logRatioMin + rng.uniform() * (logRatioMax - logRatioMin));
    const w = roundHalfEven(Math.sqrt(targetArea * aspect));
    const h = roundHalfEven(Math.sqrt(targetArea / aspect));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      // torch.randint(0, n) is uniform over 0..n-1; top is drawn before left, as in torchvision
      const top = Math.floor(rng.uniform() * (height - h + 1));
      const left = Math.floor(rng.uniform() * (width - w + 1));
      return { left, top, width: w, height: h };
    }
  }
  const inRatio = width / height;
  let w: number;
  let h: number;
  if (inRatio < Math.min(ratio[0], ratio[1])) {
    w = width;
    h = roundHalfEven(w / Math.min(ratio[0], ratio[1]));
  } else if (inRatio > Math.max(ratio[0], ratio[1])) {
    h = height;
    w = roundHalfEven(h * Math.max(ratio[0], ratio[1]));
  } else {
    w = width;
    h = height;
  }
  return { left: Math.floor((width - w) / 2), top: Math.floor((height - h) / 2), width: w, height: h };
}

/** RandomHorizontalFlip(p=0.5) decision. */
export function sampleHorizontalFlip(rng: UniformRng): boolean {
  return rng.uniform() < 0.5;
}

/** Most uniforms one training sample can consume: 10 crop tries x 2, the crop offset (2) and the flip (1). */
export const TRAIN_UNIFORMS_PER_SAMPLE = 10 * 2 + 2 + 1;

/** What a decoder has to do to one image: optional crop of the source, resize, optional crop after, flip. */
export interface DecodePlan {
  cropBefore?: CropRect;
  resizeWidth: number;
  resizeHeight: number;
  cropAfter?: CropRect;
  flip: boolean;
}

/** Training transform: RandomResizedCrop to imgSize x imgSize, then a random horizontal flip. */
export function planTrainTransform(
  width: number,
  height: number,
  imgSize: number,
  rng: UniformRng,
  scale: readonly [number, number] = [0.2, 1],
  ratio: readonly [number, number] = [3 / 4, 4 / 3],
): DecodePlan {
  const cropBefore = sampleRandomResizedCrop(width, height, rng, scale, ratio);
  const flip = sampleHorizontalFlip(rng);
  return { cropBefore, resizeWidth: imgSize, resizeHeight: imgSize, flip };
}

/** Shorter side after the eval resize: round(imgSize / cropPct). */
export function evalResizeShortSide(imgSize: number, cropPct = DEFAULT_CROP_PCT): number {
  return Math.round(imgSize / cropPct);
}

/** Eval transform: resize shorter side (torchvision Resize(int) arithmetic), centre-crop imgSize x imgSize. */
export function planEvalTransform(width: number, height: number, imgSize: number, cropPct = DEFAULT_CROP_PCT): DecodePlan {
  const shortSide = evalResizeShortSide(imgSize, cropPct);
  let resizeWidth: number;
  let resizeHeight: number;
  if (width <= height) {
    resizeWidth = shortSide;
    resizeHeight = Math.floor((shortSide * height) / width);
  } else {
    resizeHeight = shortSide;
    resizeWidth = Math.floor((shortSide * width) / height);
  }
  if (resizeWidth < imgSize || resizeHeight < imgSize) {
    throw new Error(`eval resize ${resizeWidth}x${resizeHeight} is smaller than the ${imgSize}px crop`);
  }
  const cropAfter: CropRect = {
    left: roundHalfEven((resizeWidth - imgSize) / 2),
    top: roundHalfEven((resizeHeight - imgSize) / 2),
    width: imgSize,
    height: imgSize,
  };
  return { resizeWidth, resizeHeight, cropAfter, flip: false };
}

/**
 * float32 lookup table per channel: ((v / 255) - mean) / std with every step rounded to float32,
 * the same arithmetic as torchvision ToTensor + Normalize.
 */
function buildNormalizeTable(): Float32Array {
  const table = new Float32Array(3 * 256);
  for (let c = 0; c < 3; c++) {
    const mean = Math.fround(IMAGENET_MEAN[c]);
    const std = Math.fround(IMAGENET_STD[c]);
    for (let v = 0; v < 256; v++) {
      table[c * 256 + v] = Math.fround(Math.fround(Math.fround(v / 255) - mean) / std);
    }
  }
  return table;
}

const NORMALIZE_TABLE = buildNormalizeTable(); // constant data, computed once

/**
 * Interleaved 8-bit pixels (HWC, 1, 3 or 4 channels) to ImageNet-normalised planar RGB (CHW) float32.
 * Grey is replicated to three channels; a fourth (alpha) channel is ignored. `flip` mirrors horizontally.
 */
export function normalizeToChw(
  pixels: Uint8Array,
  width: number,
  height: number,
  channels: number,
  flip = false,
  out: Float32Array = new Float32Array(3 * width * height),
  outOffset = 0,
): Float32Array {
  if (pixels.length < width * height * channels) throw new Error('normalizeToChw: pixel buffer too small');
  const plane = width * height;
  for (let y = 0; y < height; y++) {
    const rowIn = y * width;
    for (let x = 0; x < width; x++) {
      const src = (rowIn + (flip ? width - 1 - x : x)) * channels;
      const dst = outOffset + rowIn + x;
      const r = pixels[src];
      const g = channels >= 3 ? pixels[src + 1] : r;
      const b = channels >= 3 ? pixels[src + 2] : r;
      out[dst] = NORMALIZE_TABLE[r];
      out[dst + plane] = NORMALIZE_TABLE[256 + g];
      out[dst + 2 * plane] = NORMALIZE_TABLE[512 + b];
    }
  }
  return out;
}

/** Inverse of normalizeToChw for display: CHW normalised float32 to HWC RGB bytes, clamped and rounded. */
export function denormalizeToRgb(chw: Float32Array, width: number, height: number, inOffset = 0): Uint8Array {
  const plane = width * height;
  const rgb = new Uint8Array(plane * 3);
  for (let c = 0; c < 3; c++) {
    const mean = IMAGENET_MEAN[c];
    const std = IMAGENET_STD[c];
    for (let i = 0; i < plane; i++) {
      const v = (chw[inOffset + c * plane + i] * std + mean) * 255;
      rgb[i * 3 + c] = v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v);
    }
  }
  return rgb;
}
