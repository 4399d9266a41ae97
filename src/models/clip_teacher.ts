// The CLIP ViT vision tower in the OpenAI layout (conv1, class_embedding, positional_embedding, ln_pre,
// transformer.resblocks.N, ln_post, proj; QuickGELU; LayerNorm eps 1e-5), used as the frozen teacher of
// iTPN-CLIP (spec §4.2). Mirrors itpn_clip/clip/model.py: VisionTransformer and create_clip.py: clip_distill.
import type { Tensor } from '../engine/tensor';
import { add, broadcastTo, concat, layerNorm, linear, matmul, mulScalar, permute, quickGelu, reshape, slice, softmax } from '../ops';
import { constParam, truncNormalParam, type InitContext } from '../nn/init';
import { Conv2d, LayerNorm, Linear } from '../nn/layers';
import { Module } from '../nn/module';
import { interpolatePosEncodingWithCls } from './itpn/pos_embed';

export interface ClipVisionConfig {
  input_resolution: number;
  patch_size: number;
  width: number;
  layers: number;
  heads: number;
  output_dim: number;
}

export const CLIP_VIT_B16: ClipVisionConfig = { input_resolution: 224, patch_size: 16, width: 768, layers: 12, heads: 12, output_dim: 512 };
export const CLIP_VIT_L14: ClipVisionConfig = { input_resolution: 224, patch_size: 14, width: 1024, layers: 24, heads: 16, output_dim: 768 };

class MultiheadAttention extends Module {
  in_proj_weight: Tensor;
  in_proj_bias: Tensor;
  out_proj: Linear;
  constructor(ctx: InitContext, readonly dim: number, readonly heads: number) {
    super();
    this.in_proj_weight = truncNormalParam(ctx, [3 * dim, dim], 0.02);
    this.in_proj_bias = constParam(ctx, [3 * dim], 0);
    this.out_proj = new Linear(ctx, dim, dim);
  }
  forward(x: Tensor): Tensor {
    const [B, L, D] = x.shape;
    const H = this.heads, hd = D / H;
    const qkv = permute(reshape(linear(x, this.in_proj_weight, this.in_proj_bias), [B, L, 3, H, hd]), [2, 0, 3, 1, 4]);
    const q = mulScalar(reshape(slice(qkv, 0, 0, 1), [B, H, L, hd]), hd ** -0.5);
    const k = reshape(slice(qkv, 0, 1, 2), [B, H, L, hd]);
    const v = reshape(slice(qkv, 0, 2, 3), [B, H, L, hd]);
    const attn = softmax(matmul(q, k, false, true));
    return this.out_proj.forward(reshape(permute(matmul(attn, v), [0, 2, 1, 3]), [B, L, D]));
  }
}

class ClipMlp extends Module {
  c_fc: Linear;
  c_proj: Linear;
  constructor(ctx: InitContext, dim: number) {
    super();
    this.c_fc = new Linear(ctx, dim, 4 * dim);
    this.c_proj = new Linear(ctx, 4 * dim, dim);
  }
  forward(x: Tensor): Tensor {
    return this.c_proj.forward(quickGelu(this.c_fc.forward(x)));
  }
}

class ResidualAttentionBlock extends Module {
  attn: MultiheadAttention;
  ln_1: LayerNorm;
  mlp: ClipMlp;
  ln_2: LayerNorm;
  constructor(ctx: InitContext, dim: number, heads: number) {
    super();
    this.attn = new MultiheadAttention(ctx, dim, heads);
    this.ln_1 = new LayerNorm(ctx, dim, 1e-5);
    this.mlp = new ClipMlp(ctx, dim);
    this.ln_2 = new LayerNorm(ctx, dim, 1e-5);
  }
  forward(x: Tensor): Tensor {
    x = add(x, this.attn.forward(this.ln_1.forward(x)));
    return add(x, this.mlp.forward(this.ln_2.forward(x)));
  }
}

class Transformer extends Module {
  resblocks: ResidualAttentionBlock[];
  constructor(ctx: InitContext, width: number, layers: number, heads: number) {
    super();
    this.resblocks = Array.from({ length: layers }, () => new ResidualAttentionBlock(ctx, width, heads));
  }
}

export interface TeacherOutputs {
  /** ln_post(patch tokens) @ proj, [B, L, T]. */
  patch_tokens_proj: Tensor;
  /** Affine-free LayerNorm (eps 1e-5) of patch_tokens_proj: the distillation target. */
  target: Tensor;
  /** ln_post(class token) @ proj, [B, T]. */
  pooled: Tensor;
  /** Patch tokens of the residual stream after k blocks, [B, L, width], for each requested k (MFM targets). */
  hidden: Map<number, Tensor>;
}

export class ClipVisionTransformer extends Module {
  class_embedding: Tensor;
  positional_embedding: Tensor;
  proj: Tensor;
  conv1: Conv2d;
  ln_pre: LayerNorm;
  transformer: Transformer;
  ln_post: LayerNorm;

  constructor(ctx: InitContext, readonly cfg: ClipVisionConfig) {
    super();
    const w = cfg.width, grid = cfg.input_resolution / cfg.patch_size;
    this.class_embedding = truncNormalParam(ctx, [w], w ** -0.5);
    this.positional_embedding = truncNormalParam(ctx, [grid * grid + 1, w], w ** -0.5);
    this.proj = truncNormalParam(ctx, [w, cfg.output_dim], w ** -0.5);
    this.conv1 = new Conv2d(ctx, 3, w, cfg.patch_size, cfg.patch_size, false);
    this.ln_pre = new LayerNorm(ctx, w, 1e-5);
    this.transformer = new Transformer(ctx, w, cfg.layers, cfg.heads);
    this.ln_post = new LayerNorm(ctx, w, 1e-5);
  }

  /** `taps`: also return the patch tokens after these many blocks (1 … layers). */
  forward(images: Tensor, taps: number[] = []): TeacherOutputs {
    const [B, , H, W] = images.shape;
    const p = this.cfg.patch_size, w = this.cfg.width;
    const gh = H / p, gw = W / p;
    const tokens = reshape(this.conv1.forward(images, true), [B, gh * gw, w]);
    const cls = broadcastTo(reshape(this.class_embedding, [1, 1, w]), [B, 1, w]);
    let x = concat([cls, tokens], 1);
    x = add(x, interpolatePosEncodingWithCls(this.positional_embedding, gh, gw));
    x = this.ln_pre.forward(x);
    const L = gh * gw;
    const hidden = new Map<number, Tensor>();
    for (const k of taps) if (!Number.isInteger(k) || k < 1 || k > this.cfg.layers) throw new Error(`CLIP tap ${k} is outside 1…${this.cfg.layers}`);
    this.transformer.resblocks.forEach((blk, i) => {
      x = blk.forward(x);
      if (taps.includes(i + 1)) hidden.set(i + 1, slice(x, 1, 1, L + 1));
    });
    const patches = this.ln_post.forward(slice(x, 1, 1, L + 1));
    const patch_tokens_proj = matmul(patches, this.proj);
    const target = layerNorm(patch_tokens_proj, null, null, 1e-5);
    const pooled = matmul(this.ln_post.forward(reshape(slice(x, 1, 0, 1), [B, w])), this.proj);
    return { patch_tokens_proj, target, pooled, hidden };
  }
}
