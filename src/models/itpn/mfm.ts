// Masked feature modeling (MFM), the paper's multi-stage supervision of the pyramid (spec §4.3). The released code
// has none, so this is the extension the spec describes "by analogy": one light head per pyramid level (stride 16,
// 8, 4; LayerNorm + Linear, keys `mfm_heads.{0,1,2}.{0,1}.*`) regressing teacher features resampled to that
// level's grid, on the masked positions only, against affine-free LayerNorm'd targets (SmoothL1 or MSE), with a
// weight per level. The teacher (CLIP tower or an itpn checkpoint) lives in src/pretrain/teacher.ts.
//
// CLIP variant: the pyramid runs on all tokens (mask token at the main stage), so each head reads its pyramid
// level [B, N, s, s, F] directly. Note the variant's known leak (spec §3.2): P8 and P4 at masked positions also
// see the unmasked stage-1/2 laterals.
//
// Pixel variant: masked tokens are dropped before stage 1 and the pyramid is token-local (MLP blocks, split,
// laterals), so a masked position has no pyramid output, and a second pyramid pass over mask tokens would give
// the same constant at every masked position. The only place masked positions get content is the decoder, which
// fuses the levels by space-to-depth (level i: Linear(F → D/4^i) per sub-token, 4^i sub-tokens stacked into D).
// MFM for the pixel variant therefore inverts that fusion on the decoder's output: the hidden state after the
// decoder blocks [B, N, D] is read depth-to-space as [B, N, s, s, D/s²] for s = 1, 2, 4, and head i maps
// D/4^i → teacher dim at that level's resolution. The heads' inputs are then D/4^i wide instead of F.
import type { Tensor } from '../../engine/tensor';
import { add, affine, layerNorm, mseLoss, mul, permute, reshape, resize2d, smoothL1Loss, sum } from '../../ops';
import type { InitContext } from '../../nn/init';
import { LayerNorm, Linear } from '../../nn/layers';
import type { ITPNConfig } from './configs';
import { ITPNClipDistill, type ClipOutputs } from './clip_distill';
import { ITPNMaskedAutoencoder, randomMasking, type PixelOutputs } from './pixel_mim';

export type MFMLossKind = 'smooth_l1' | 'mse';

export interface MFMConfig {
  /** Teacher feature width per level (stride 16, 8, 4). */
  targetDims: [number, number, number];
  weights: [number, number, number];
  loss: MFMLossKind;
}

export const LEVEL_SCALES = [1, 2, 4] as const;

function buildHeads(ctx: InitContext, inDims: number[], outDims: number[], eps: number): [LayerNorm, Linear][] {
  return inDims.map((d, i) => [new LayerNorm(ctx, d, eps), new Linear(ctx, d, outDims[i])] as [LayerNorm, Linear]);
}

/**
 * Teacher tokens [B, N, T] on the Hp×Wp grid → the level-s target [B, N, s, s, T] in the pyramid layout (token n,
 * then its s×s sub-tokens row-major): bilinear upsampling by s (align_corners False), then an affine-free
 * LayerNorm (eps 1e-5) per position.
 */
export function levelTarget(tokens: Tensor, Hp: number, Wp: number, s: number): Tensor {
  const [B, N, T] = tokens.shape;
  let y: Tensor;
  if (s === 1) {
    y = reshape(tokens, [B, N, 1, 1, T]);
  } else {
    const map = permute(reshape(tokens, [B, Hp, Wp, T]), [0, 3, 1, 2]); // [B, T, Hp, Wp]
    const up = resize2d(map, { mode: 'bilinear', size: [Hp * s, Wp * s] }); // [B, T, Hp·s, Wp·s]
    y = reshape(permute(reshape(up, [B, T, Hp, s, Wp, s]), [0, 2, 4, 3, 5, 1]), [B, N, s, s, T]);
  }
  return layerNorm(y, null, null, 1e-5);
}

/**
 * Σᵢ wᵢ·lossᵢ, lossᵢ the mean element loss over the masked positions of level i (mask [B, N], 1 = masked, each
 * main token's s×s sub-tokens share its bit). Unmasked elements are zeroed on both sides, so they add nothing to
 * the sum or the gradient; the mean over all elements is then rescaled to a mean over the masked ones.
 */
export function mfmLoss(preds: Tensor[], targets: Tensor[], mask: Tensor, cfg: MFMConfig): { loss: Tensor; levels: Tensor[] } {
  const [B, N] = mask.shape;
  const masked = sum(mask).item();
  const levels = preds.map((p, i) => {
    const m = reshape(mask, [B, N, 1, 1, 1]);
    const fn = cfg.loss === 'mse' ? mseLoss : smoothL1Loss;
    const l = fn(mul(p, m), mul(targets[i], m));
    return affine(l, masked > 0 ? (B * N) / masked : 0, 0);
  });
  let loss = affine(levels[0], cfg.weights[0], 0);
  for (let i = 1; i < levels.length; i++) loss = add(loss, affine(levels[i], cfg.weights[i], 0));
  return { loss, levels };
}

function applyHeads(heads: [LayerNorm, Linear][], inputs: Tensor[]): Tensor[] {
  return inputs.map((x, i) => heads[i][1].forward(heads[i][0].forward(x)));
}

/** iTPN-CLIP with MFM heads on the three pyramid levels (LN(F) + Linear(F → Tᵢ)). */
export class ITPNClipDistillMFM extends ITPNClipDistill {
  mfm_heads: [LayerNorm, Linear][];

  constructor(ctx: InitContext, cfg: ITPNConfig, readonly mfm: MFMConfig) {
    super(ctx, cfg);
    this.mfm_heads = buildHeads(ctx, [cfg.fpn_dim, cfg.fpn_dim, cfg.fpn_dim], mfm.targetDims, cfg.layer_norm_eps);
  }

  /** `levelTargets` from levelTarget() per level; the MFM loss is added to the distillation loss. */
  forwardMFM(images: Tensor, boolMaskedPos: Tensor, target: Tensor, levelTargets: Tensor[]): ClipOutputs & { loss_mfm: Tensor; loss_mfm_levels: Tensor[] } {
    const out = this.forward(images, boolMaskedPos, target);
    const preds = applyHeads(this.mfm_heads, out.pyramid); // [B, N, s, s, Tᵢ]
    const { loss, levels } = mfmLoss(preds, levelTargets, boolMaskedPos, this.mfm);
    return { ...out, loss: add(out.loss, loss), loss_mfm: loss, loss_mfm_levels: levels };
  }
}

/** Pixel iTPN with MFM heads on the decoder output read depth-to-space (LN(D/4^i) + Linear(D/4^i → Tᵢ)); see the header. */
export class ITPNMaskedAutoencoderMFM extends ITPNMaskedAutoencoder {
  mfm_heads: [LayerNorm, Linear][];

  constructor(ctx: InitContext, cfg: ITPNConfig, readonly mfm: MFMConfig) {
    super(ctx, cfg);
    const D = cfg.decoder_embed_dim;
    if (D % 16 !== 0) throw new Error(`MFM on the pixel decoder needs decoder_embed_dim divisible by 16, got ${D}`);
    this.mfm_heads = buildHeads(ctx, LEVEL_SCALES.map((s) => D / (s * s)), mfm.targetDims, cfg.layer_norm_eps);
  }

  /** forwardDecoder, also returning the hidden state before decoder_norm (which the MFM heads read). */
  forwardDecoderHidden(pyramid: [Tensor, Tensor, Tensor], idsRestore: Tensor): { pred: Tensor; hidden: Tensor } {
    const hidden = this.decoderHidden(pyramid, idsRestore);
    return { pred: this.decoder_pred.forward(this.decoder_norm.forward(hidden)), hidden };
  }

  /** Pixel MIM plus MFM; `levelTargets` from levelTarget() per level, computed by the teacher on the full image. */
  forwardMFM(imgs: Tensor, noise: Tensor, levelTargets: Tensor[]): PixelOutputs & { loss_pixel: Tensor; loss_mfm: Tensor; loss_mfm_levels: Tensor[] } {
    const masking = randomMasking(noise, this.cfg.mask_ratio);
    const feats = this.forwardFeatures(imgs, { idsKeep: masking.idsKeep });
    const pyramid = this.forwardPyramid(feats);
    const { pred, hidden } = this.forwardDecoderHidden(pyramid, masking.idsRestore);
    const loss_pixel = this.forwardLoss(imgs, pred, masking.mask);
    const [B, N, D] = hidden.shape;
    const inputs = LEVEL_SCALES.map((s) => reshape(hidden, [B, N, s, s, D / (s * s)])); // depth-to-space
    const { loss, levels } = mfmLoss(applyHeads(this.mfm_heads, inputs), levelTargets, masking.mask, this.mfm);
    return { loss: add(loss_pixel, loss), loss_pixel, loss_mfm: loss, loss_mfm_levels: levels, pred, masking, pyramid };
  }
}
