// iTPNMaskedAutoencoder: pixel pre-training (spec §3.1, §4.1). Random 75% masking with masked tokens dropped at
// patch embedding, the pyramid on visible tokens, a decoder fed by all three pyramid levels, norm-pix MSE on
// masked tokens. Mirrors itpn_pixel/models/models_itpn_mim.py and masked_autoencoder.py.
import type { Backend } from '../../engine/backend';
import { Tensor } from '../../engine/tensor';
import { add, affine, argsort, broadcastTo, concat, div, mean, mul, permute, reshape, sqrt, sub, sum, take, tensor, variance } from '../../ops';
import { normalParam, type InitContext } from '../../nn/init';
import { LayerNorm, Linear } from '../../nn/layers';
import type { ITPNConfig } from './configs';
import { ITPNBackbone } from './backbone';
import { AttentionBlock } from './layers';
import { sincos2d } from './pos_embed';

export interface Masking {
  /** Visible token ids per sample in shuffled order, int32 [B, n]. */
  idsKeep: Tensor;
  /** Inverse of the shuffle, int32 [B, N]. */
  idsRestore: Tensor;
  /** 1 for removed tokens, in the original order, float [B, N]. */
  mask: Tensor;
  /** Removed (masked) token ids per sample in shuffled order, int32 [B, N − n]. */
  idsMasked: Tensor;
}

/** MAE random masking from given uniform noise [B, N]: keep the int(N·(1−ratio)) smallest noise values. */
export function randomMasking(noise: Tensor, ratio: number): Masking {
  const [B, N] = noise.shape;
  const lenKeep = Math.floor(N * (1 - ratio));
  const shuffle = argsort(noise).toArray();
  const lenMasked = N - lenKeep;
  const keep = new Int32Array(B * lenKeep), masked = new Int32Array(B * lenMasked), restore = new Int32Array(B * N);
  const mask = new Float32Array(B * N);
  for (let b = 0; b < B; b++) {
    for (let j = 0; j < N; j++) {
      const id = shuffle[b * N + j];
      restore[b * N + id] = j;
      if (j < lenKeep) keep[b * lenKeep + j] = id;
      else masked[b * lenMasked + j - lenKeep] = id;
      mask[b * N + id] = j < lenKeep ? 0 : 1;
    }
  }
  const be = noise.backend;
  return {
    idsKeep: tensor(be, keep, [B, lenKeep], 'int32'),
    idsRestore: tensor(be, restore, [B, N], 'int32'),
    mask: tensor(be, noise.dtype === 'float64' ? Float64Array.from(mask) : mask, [B, N]),
    idsMasked: tensor(be, masked, [B, lenMasked], 'int32'),
  };
}

/** imgs [B, 3, H, W] → [B, N, 16·16·3], per patch ordered [row][col][RGB], patches row-major. */
export function patchify(imgs: Tensor, p = 16): Tensor {
  const [B, C, H, W] = imgs.shape;
  const h = H / p, w = W / p;
  return reshape(permute(reshape(imgs, [B, C, h, p, w, p]), [0, 2, 4, 3, 5, 1]), [B, h * w, p * p * C]);
}

/** Inverse of patchify. */
export function unpatchify(x: Tensor, H: number, W: number, p = 16): Tensor {
  const [B] = x.shape;
  const h = H / p, w = W / p;
  return reshape(permute(reshape(x, [B, h, w, p, p, 3]), [0, 5, 1, 3, 2, 4]), [B, 3, H, W]);
}

export interface PixelOutputs {
  loss: Tensor;
  pred: Tensor;
  masking: Masking;
  pyramid: [Tensor, Tensor, Tensor];
}

export class ITPNMaskedAutoencoder extends ITPNBackbone {
  mask_token: Tensor;
  decoder_pos_embed: Tensor;
  decoder_embed: [LayerNorm, Linear][];
  decoder_blocks: AttentionBlock[];
  decoder_norm: LayerNorm;
  decoder_pred: Linear;

  constructor(ctx: InitContext, cfg: ITPNConfig) {
    super(ctx, cfg, { pyramid: true });
    const C = cfg.embed_dim, D = cfg.decoder_embed_dim, F = cfg.fpn_dim, eps = cfg.layer_norm_eps;
    const grid = cfg.img_size / cfg.patch_size;
    // pixel pre-training: APE overwritten with fixed sin-cos values but left learnable (spec §1.6)
    this.absolute_pos_embed.assign(sincos2d(C, grid));
    this.mask_token = normalParam(ctx, [1, 1, D], 0.02);
    this.decoder_pos_embed = tensor(ctx.backend, sincos2d(D, grid), [1, grid * grid, D]);
    this.decoder_pos_embed.kept = true; // requires_grad False, but part of the state dict
    this.decoder_embed = [0, 1, 2].map((i) => [new LayerNorm(ctx, F, eps), new Linear(ctx, F, D / 4 ** i)] as [LayerNorm, Linear]);
    this.decoder_blocks = Array.from({ length: cfg.decoder_depth }, () => new AttentionBlock(ctx, D, cfg.decoder_num_heads, cfg.mlp_ratio, eps, 0, 0, null));
    this.decoder_norm = new LayerNorm(ctx, D, eps);
    this.decoder_pred = new Linear(ctx, D, cfg.patch_size ** 2 * cfg.in_chans);
  }

  /**
   * Fuses the three pyramid levels into one full-length decoder sequence and predicts pixels: [B, N, 768]. With
   * `rows` (token ids per sample, [B, k]) the last block's MLP, the norm and the head run on those tokens only and
   * the result is [B, k, 768]; attention still sees every token, so these rows equal the full result's.
   */
  forwardDecoder(pyramid: [Tensor, Tensor, Tensor], idsRestore: Tensor, rows: Tensor | null = null): Tensor {
    return this.decoder_pred.forward(this.decoder_norm.forward(this.decoderHidden(pyramid, idsRestore, rows)));
  }

  /** The decoder blocks' output before decoder_norm ([B, N, D], or [B, k, D] with `rows`, as forwardDecoder). */
  decoderHidden(pyramid: [Tensor, Tensor, Tensor], idsRestore: Tensor, rows: Tensor | null = null): Tensor {
    const [B, N] = idsRestore.shape;
    const D = this.cfg.decoder_embed_dim;
    const levels = pyramid.map((p, i) => {
      const [ln, proj] = this.decoder_embed[i];
      const n = p.shape[1];
      const y = reshape(proj.forward(ln.forward(p)), [B, n, D]); // space-to-depth: (i, j) row-major, then channel
      const masked = broadcastTo(this.mask_token, [B, N - n, D]);
      return take(concat([y, masked], 1), idsRestore, 1); // un-shuffle to the original token order
    });
    let x = add(add(add(levels[0], this.decoder_pos_embed), levels[1]), levels[2]);
    const bc = { rng: this.rng };
    const last = this.decoder_blocks.length - 1;
    this.decoder_blocks.forEach((blk, i) => { x = blk.forward(x, bc, null, i === last ? rows : null); });
    if (rows && last < 0) x = take(x, rows, 1);
    return x;
  }

  /** Per-patch normalised pixel MSE, averaged over masked patches (norm_pix_loss is always on). */
  forwardLoss(imgs: Tensor, pred: Tensor, mask: Tensor): Tensor {
    const perPatch = normPixError(patchify(imgs, this.cfg.patch_size), pred); // [B, N]
    return div(sum(mul(perPatch, mask)), sum(mask));
  }

  /** forwardLoss for a prediction of the masked patches only ([B, k, 768] in idsMasked's order): their mean. */
  forwardLossMasked(imgs: Tensor, predMasked: Tensor, idsMasked: Tensor): Tensor {
    return mean(normPixError(take(patchify(imgs, this.cfg.patch_size), idsMasked, 1), predMasked));
  }

  forward(imgs: Tensor, noise: Tensor): PixelOutputs {
    const masking = randomMasking(noise, this.cfg.mask_ratio);
    const feats = this.forwardFeatures(imgs, { idsKeep: masking.idsKeep });
    const pyramid = this.forwardPyramid(feats);
    const pred = this.forwardDecoder(pyramid, masking.idsRestore);
    const loss = this.forwardLoss(imgs, pred, masking.mask);
    return { loss, pred, masking, pyramid };
  }

  /**
   * The training objective alone: forward()'s loss, with the decoder's last block MLP, norm and head run only on
   * the masked tokens, the only rows the loss reads (a quarter less work in those layers at 75% masking).
   */
  forwardTrainLoss(imgs: Tensor, noise: Tensor): { loss: Tensor; masking: Masking } {
    const masking = randomMasking(noise, this.cfg.mask_ratio);
    const feats = this.forwardFeatures(imgs, { idsKeep: masking.idsKeep });
    const predMasked = this.forwardDecoder(this.forwardPyramid(feats), masking.idsRestore, masking.idsMasked);
    return { loss: this.forwardLossMasked(imgs, predMasked, masking.idsMasked), masking };
  }
}

/** Per-patch mean squared error against the patch's normalised pixels (unbiased variance, as torch .var()). */
function normPixError(target: Tensor, pred: Tensor): Tensor {
  const mu = mean(target, -1, true);
  const v = variance(target, -1, true, true);
  const d = sub(pred, div(sub(target, mu), sqrt(affine(v, 1, 1e-6))));
  return mean(mul(d, d), -1);
}

/** Uniform noise [B, N] for masking, drawn from the run's generator. */
export function maskingNoise(backend: Backend, B: number, N: number, uniform: () => number): Tensor {
  const a = new Float32Array(B * N);
  for (let i = 0; i < a.length; i++) a[i] = uniform();
  return tensor(backend, a, [B, N]);
}
