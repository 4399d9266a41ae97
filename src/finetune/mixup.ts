// Mixup (Zhang et al., arXiv 1710.09412) and CutMix (Yun et al., arXiv 1905.04899) with the semantics of timm's
// Mixup in 'batch' mode (timm/data/mixup.py), as the fine-tuning recipe uses it (spec §6.1: mixup 0.8, cutmix
// 1.0): one λ per batch, each sample paired with the batch flipped (i ↔ B−1−i); with both enabled, CutMix is
// chosen with probability `switchProb`; the CutMix box is centred uniformly, may be clipped at the border, and λ
// is corrected to the pasted area. Targets are label-smoothed one-hots mixed with the same λ.
import type { Rng } from '../engine/random';

export interface MixupConfig {
  mixupAlpha: number;
  cutmixAlpha: number;
  /** Probability of mixing a batch at all (timm mix_prob). */
  prob: number;
  /** Probability of CutMix instead of Mixup when both are enabled. */
  switchProb: number;
  labelSmoothing: number;
  numClasses: number;
}

export interface Box {
  yl: number;
  yh: number;
  xl: number;
  xh: number;
}

export interface MixedBatch {
  /** [B, 3, H, W], a new array. */
  images: Float32Array;
  /** [B, numClasses] soft targets. */
  targets: Float32Array;
  lam: number;
  kind: 'none' | 'mixup' | 'cutmix';
  box: Box | null;
}

export function mixupEnabled(cfg: MixupConfig): boolean {
  return cfg.mixupAlpha > 0 || cfg.cutmixAlpha > 0;
}

/** Gamma(a, 1) by Marsaglia and Tsang (2000); a < 1 through Gamma(a + 1)·U^(1/a). */
function sampleGamma(rng: Rng, a: number): number {
  if (a < 1) return sampleGamma(rng, a + 1) * Math.pow(1 - rng.uniform(), 1 / a);
  const d = a - 1 / 3, c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number, v: number;
    do {
      x = rng.normal();
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = 1 - rng.uniform();
    if (Math.log(u) < 0.5 * x * x + d - d * v + d * Math.log(v)) return d * v;
  }
}

export function sampleBeta(rng: Rng, a: number, b: number): number {
  const x = sampleGamma(rng, a), y = sampleGamma(rng, b);
  return x / (x + y);
}

/** timm rand_bbox: a box of sides int(H·√(1−λ)) × int(W·√(1−λ)) around a uniform centre, clipped to the image. */
export function randBox(H: number, W: number, lam: number, rng: Rng): Box {
  const ratio = Math.sqrt(1 - lam);
  const cutH = Math.trunc(H * ratio), cutW = Math.trunc(W * ratio);
  const cy = Math.floor(rng.uniform() * H), cx = Math.floor(rng.uniform() * W);
  const clip = (v: number, hi: number) => Math.min(Math.max(v, 0), hi);
  const halfH = Math.floor(cutH / 2), halfW = Math.floor(cutW / 2);
  return { yl: clip(cy - halfH, H), yh: clip(cy + halfH, H), xl: clip(cx - halfW, W), xh: clip(cx + halfW, W) };
}

/** timm mixup_target: smoothed one-hot of each label mixed with that of its flipped partner. */
export function mixupTargets(labels: Int32Array, lam: number, numClasses: number, smoothing: number): Float32Array {
  const B = labels.length;
  const off = smoothing / numClasses, on = 1 - smoothing + off;
  const t = new Float32Array(B * numClasses);
  for (let i = 0; i < B; i++) {
    const row = t.subarray(i * numClasses, (i + 1) * numClasses);
    row.fill(off);
    row[labels[i]] += (on - off) * lam;
    row[labels[B - 1 - i]] += (on - off) * (1 - lam);
  }
  return t;
}

/** Mixes one batch of CHW images [B, 3, H, W] and their labels; draws from `rng` (resumable). */
export function mixBatch(images: Float32Array, labels: Int32Array, H: number, W: number, cfg: MixupConfig, rng: Rng): MixedBatch {
  const B = labels.length, size = images.length / B, plane = H * W;
  let lam = 1;
  let kind: MixedBatch['kind'] = 'none';
  if (mixupEnabled(cfg) && rng.uniform() < cfg.prob) {
    const cutmix = cfg.mixupAlpha > 0 && cfg.cutmixAlpha > 0 ? rng.uniform() < cfg.switchProb : cfg.cutmixAlpha > 0;
    kind = cutmix ? 'cutmix' : 'mixup';
    const alpha = cutmix ? cfg.cutmixAlpha : cfg.mixupAlpha;
    lam = sampleBeta(rng, alpha, alpha);
  }
  const out = new Float32Array(images);
  let box: Box | null = null;
  if (kind === 'mixup') {
    for (let i = 0; i < B; i++) {
      const a = i * size, b = (B - 1 - i) * size;
      for (let j = 0; j < size; j++) out[a + j] = images[a + j] * lam + images[b + j] * (1 - lam);
    }
  } else if (kind === 'cutmix') {
    box = randBox(H, W, lam, rng);
    for (let i = 0; i < B; i++) {
      const a = i * size, b = (B - 1 - i) * size;
      for (let c = 0; c < size / plane; c++) {
        for (let y = box.yl; y < box.yh; y++) {
          const row = c * plane + y * W;
          for (let x = box.xl; x < box.xh; x++) out[a + row + x] = images[b + row + x];
        }
      }
    }
    lam = 1 - ((box.yh - box.yl) * (box.xh - box.xl)) / plane; // correct_lam: the area actually pasted
  }
  return { images: out, targets: mixupTargets(labels, lam, cfg.numClasses, cfg.labelSmoothing), lam, kind, box };
}
