// iTPNClipDistill: CLIP-feature distillation pre-training (spec §3.2, §4.2). Block-masked student with a mask
// token at the main stage, a pyramid head (A) and an auxiliary head (B) on an intermediate main block, both
// regressing affine-free LayerNorm'd CLIP patch tokens with SmoothL1. Mirrors itpn_clip/modeling_pretrain.py.
import type { Tensor } from '../../engine/tensor';
import { add, reshape, smoothL1Loss } from '../../ops';
import { truncNormalParam, type InitContext } from '../../nn/init';
import { LayerNorm, Linear } from '../../nn/layers';
import type { ITPNConfig } from './configs';
import { ITPNBackbone } from './backbone';
import { AttentionBlock } from './layers';

export interface ClipOutputs {
  loss: Tensor;
  loss_1: Tensor;
  loss_2: Tensor;
  head_pyramid: Tensor;
  head_aux: Tensor;
  /** The three pyramid levels [B, N, s, s, F] (s = 1, 2, 4), for heads that read them (MFM). */
  pyramid: [Tensor, Tensor, Tensor];
}

export class ITPNClipDistill extends ITPNBackbone {
  mask_token: Tensor;
  decoder_embed: [LayerNorm, Linear][];
  lm_head: Linear;
  lm_cls_head: Linear;
  norm: LayerNorm;
  norm_cls: LayerNorm;
  cls_pt_layers: AttentionBlock[];
  readonly auxTap: number;

  constructor(ctx: InitContext, cfg: ITPNConfig) {
    super(ctx, cfg, { pyramid: true });
    const C = cfg.embed_dim, F = cfg.fpn_dim, T = cfg.teacher_dim, eps = cfg.layer_norm_eps;
    const grid = cfg.img_size / cfg.patch_size;
    this.mask_token = truncNormalParam(ctx, [1, 1, C], 0.02);
    this.decoder_embed = [0, 1, 2].map((i) => [new LayerNorm(ctx, F, eps), new Linear(ctx, F, C / 4 ** i)] as [LayerNorm, Linear]);
    this.lm_head = new Linear(ctx, C, T);
    this.lm_cls_head = new Linear(ctx, C, T);
    this.norm = new LayerNorm(ctx, C, eps);
    this.norm_cls = new LayerNorm(ctx, C, eps);
    this.auxTap = Math.floor(0.75 * cfg.depth);
    const total = cfg.mlp_depth1 + cfg.mlp_depth2 + cfg.depth;
    const dprAt = (i: number) => (total > 1 ? (cfg.drop_path_rate * i) / (total - 1) : 0);
    const base = cfg.mlp_depth1 + cfg.mlp_depth2 + this.auxTap;
    // two extra blocks on the tapped state: RPE and layer scale on, LayerNorm eps 1e-5 (norm_layer not passed)
    this.cls_pt_layers = [0, 1].map((k) => new AttentionBlock(ctx, C, cfg.num_heads, cfg.mlp_ratio, cfg.cls_pt_layers_eps, dprAt(base + k),
      cfg.init_values, cfg.rpe ? grid : null));
  }

  forward(images: Tensor, boolMaskedPos: Tensor, target: Tensor): ClipOutputs;
  forward(images: Tensor, boolMaskedPos: Tensor, target: null): Omit<ClipOutputs, 'loss' | 'loss_1' | 'loss_2'>;
  forward(images: Tensor, boolMaskedPos: Tensor, target: Tensor | null): ClipOutputs | Omit<ClipOutputs, 'loss' | 'loss_1' | 'loss_2'> {
    const feats = this.forwardFeatures(images, { boolMaskedPos, maskToken: this.mask_token, auxTap: this.auxTap });
    const pyramid = this.forwardPyramid(feats);
    const [B, N, C] = feats.x.shape;
    // Head A: per-level LN + Linear(F → C/4^i), space-to-depth to [B, N, C], summed, then norm + lm_head
    const levels = pyramid.map((p, i) => {
      const [ln, proj] = this.decoder_embed[i];
      return reshape(proj.forward(ln.forward(p)), [B, N, C]);
    });
    const head_pyramid = this.lm_head.forward(this.norm.forward(add(add(levels[0], levels[1]), levels[2])));
    // Head B: two attention blocks on the tapped main-stage state
    const rpe = this.rpeBiasFn(feats.grid[0], feats.grid[1], null, B);
    let aux = feats.aux!;
    for (const blk of this.cls_pt_layers) aux = blk.forward(aux, { rng: this.rng }, rpe(blk));
    const head_aux = this.lm_cls_head.forward(this.norm_cls.forward(aux));
    if (!target) return { head_pyramid, head_aux, pyramid };
    const loss_1 = smoothL1Loss(head_pyramid, target);
    const loss_2 = smoothL1Loss(head_aux, target);
    return { loss: add(loss_1, loss_2), loss_1, loss_2, head_pyramid, head_aux, pyramid };
  }
}
