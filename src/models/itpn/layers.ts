// HiViT building blocks (spec §1.3–1.5, §2.1): patch embedding into the (B, N, 4, 4, C/4) layout, MLP-only blocks,
// attention blocks with optional relative position bias and layer scale, PatchMerge and PatchSplit.
// Mirrors itpn_pixel/models/models_itpn.py: PatchEmbed, BlockWithRPE, Attention, PatchMerge, PatchSplit.
// Dimension letters: B batch, N main tokens (possibly only the visible ones), h×w inner grid, C channels.
import type { Rng } from '../../engine/random';
import type { Tensor } from '../../engine/tensor';
import { isGradEnabled, tidy } from '../../engine/scope';
import { add, attention, dropPath, mlp, mul, permute, reshape, take } from '../../ops';
import { constParam, type InitContext } from '../../nn/init';
import { Conv2d, LayerNorm, Linear, Mlp } from '../../nn/layers';
import { Module } from '../../nn/module';

export interface BlockContext {
  rng: Rng;
  /** Relative position bias per head, [B or 1, heads, N, N], or null. */
  rpeIndex?: Tensor | null;
}

/**
 * Without autograd (inference) a block's intermediates are dead once it returns, so they are freed right there
 * instead of at the end of the caller's scope (peak memory: one block's temporaries, not the whole network's);
 * with autograd they are the saved activations and must stay.
 */
function blockScope(fn: () => Tensor): Tensor {
  return isGradEnabled() ? fn() : tidy(fn);
}

/**
 * timm Mlp (fc1 → GELU → fc2) through the fused op: same parameters, GELU output recomputed in backward; `residual`
 * is added inside fc2's GEMM.
 */
function runMlp(m: Mlp, x: Tensor, residual: Tensor | null = null): Tensor {
  return mlp(x, m.fc1.weight, m.fc1.bias, m.fc2.weight, m.fc2.bias, residual);
}

/**
 * Whether a branch's residual add can be folded into its last GEMM: only when the branch output reaches the add
 * unchanged (no layer scale γ, no active drop-path).
 */
function foldResidual(gamma: Tensor | null, dropPathRate: number, training: boolean): boolean {
  return gamma === null && (dropPathRate === 0 || !training);
}

export class PatchEmbed extends Module {
  proj: Conv2d;
  norm: LayerNorm;
  constructor(ctx: InitContext, inChans: number, dim: number, readonly inner: number, eps: number) {
    super();
    this.proj = new Conv2d(ctx, inChans, dim, 16 / inner, 16 / inner);
    this.norm = new LayerNorm(ctx, dim, eps);
  }
  /** images [B, 3, H, W] → [B, N, 4, 4, C/4], token n = r·Wp + c, inner (i, j) = conv pixel (4r+i, 4c+j). */
  forward(x: Tensor): Tensor {
    const [B, , H, W] = x.shape;
    const Hp = H / 16, Wp = W / 16, k = this.inner;
    return blockScope(() => {
      const y = this.proj.forward(x, true); // [B, H/4, W/4, c]
      const c = y.shape[3];
      const tokens = reshape(permute(reshape(y, [B, Hp, k, Wp, k, c]), [0, 1, 3, 2, 4, 5]), [B, Hp * Wp, k, k, c]);
      return this.norm.forward(tokens);
    });
  }
}

/** MLP-only block: x + γ2·MLP(LN(x)); stages 1–2 and every pyramid block. */
export class MlpBlock extends Module {
  gamma_2: Tensor | null;
  norm2: LayerNorm;
  mlp: Mlp;
  constructor(ctx: InitContext, dim: number, ratio: number, eps: number, readonly dropPathRate: number, initValues: number) {
    super();
    this.gamma_2 = initValues > 0 ? constParam(ctx, [dim], initValues) : null;
    this.norm2 = new LayerNorm(ctx, dim, eps);
    this.mlp = new Mlp(ctx, dim, Math.floor(dim * ratio));
  }
  forward(x: Tensor, bc: BlockContext): Tensor {
    return blockScope(() => {
      if (foldResidual(this.gamma_2, this.dropPathRate, this.training)) return runMlp(this.mlp, this.norm2.forward(x), x);
      let y = runMlp(this.mlp, this.norm2.forward(x));
      if (this.gamma_2) y = mul(y, this.gamma_2);
      return add(x, dropPath(y, this.dropPathRate, bc.rng, this.training));
    });
  }
}

export class Attention extends Module {
  relative_position_bias_table: Tensor | null;
  qkv: Linear;
  proj: Linear;
  readonly headDim: number;
  constructor(ctx: InitContext, readonly dim: number, readonly numHeads: number, rpeGrid: number | null) {
    super();
    // zero-initialised, never trunc-normal in the official code (spec §1.6)
    this.relative_position_bias_table = rpeGrid ? constParam(ctx, [(2 * rpeGrid - 1) ** 2, numHeads], 0) : null;
    this.qkv = new Linear(ctx, dim, 3 * dim);
    this.proj = new Linear(ctx, dim, dim);
    this.headDim = dim / numHeads;
  }
  /** x [B, N, C]; rpeBias [B or 1, heads, N, N] when the table exists; `residual` is added inside proj's GEMM. */
  forward(x: Tensor, rpeBias: Tensor | null, residual: Tensor | null = null): Tensor {
    // softmax(q·kᵀ·hd^-½ + rpe)·v per head, fused: read from qkv [B, N, 3, H, hd], written as [B, N, C]
    const out = attention(this.qkv.forward(x), this.numHeads, this.headDim ** -0.5, rpeBias);
    return this.proj.forward(out, residual);
  }
}

/** Pre-norm attention block: x + γ1·Attn(LN1(x)); x + γ2·MLP(LN2(x)). */
export class AttentionBlock extends Module {
  gamma_1: Tensor | null;
  gamma_2: Tensor | null;
  norm1: LayerNorm;
  attn: Attention;
  norm2: LayerNorm;
  mlp: Mlp;
  constructor(ctx: InitContext, dim: number, heads: number, ratio: number, eps: number, readonly dropPathRate: number,
    initValues: number, rpeGrid: number | null) {
    super();
    this.gamma_1 = initValues > 0 ? constParam(ctx, [dim], initValues) : null;
    this.gamma_2 = initValues > 0 ? constParam(ctx, [dim], initValues) : null;
    this.norm1 = new LayerNorm(ctx, dim, eps);
    this.attn = new Attention(ctx, dim, heads, rpeGrid);
    this.norm2 = new LayerNorm(ctx, dim, eps);
    this.mlp = new Mlp(ctx, dim, Math.floor(dim * ratio));
  }
  /**
   * With `rows` (token ids per sample, [B, k]) only those tokens leave the block: attention reads every token, the
   * MLP runs on the k rows.
   */
  forward(x: Tensor, bc: BlockContext, rpeBias: Tensor | null, rows: Tensor | null = null): Tensor {
    const pick = (t: Tensor) => (rows ? take(t, rows, 1) : t);
    return blockScope(() => {
      if (foldResidual(this.gamma_1, this.dropPathRate, this.training) && foldResidual(this.gamma_2, this.dropPathRate, this.training)) {
        const h = pick(this.attn.forward(this.norm1.forward(x), rpeBias, x));
        return runMlp(this.mlp, this.norm2.forward(h), h);
      }
      let a = this.attn.forward(this.norm1.forward(x), rpeBias);
      if (this.gamma_1) a = mul(a, this.gamma_1);
      const h = pick(add(x, dropPath(a, this.dropPathRate, bc.rng, this.training)));
      let m = runMlp(this.mlp, this.norm2.forward(h));
      if (this.gamma_2) m = mul(m, this.gamma_2);
      return add(h, dropPath(m, this.dropPathRate, bc.rng, this.training));
    });
  }
}

/**
 * PatchMerge(dim): inside each main token, concatenate the sub-grids (even row, even col), (odd row, even col),
 * (even row, odd col), (odd row, odd col) on channels, then LN(4·dim) and Linear(4·dim → 2·dim, no bias).
 */
export class PatchMerge extends Module {
  norm: LayerNorm;
  reduction: Linear;
  constructor(ctx: InitContext, dim: number, eps: number) {
    super();
    this.norm = new LayerNorm(ctx, 4 * dim, eps);
    this.reduction = new Linear(ctx, 4 * dim, 2 * dim, false);
  }
  forward(x: Tensor): Tensor {
    const [B, N, h, w, c] = x.shape;
    // [B, N, h/2, dh, w/2, dw, c] → channel block index dw·2 + dh gives the order above
    return blockScope(() => {
      const grouped = permute(reshape(x, [B, N, h / 2, 2, w / 2, 2, c]), [0, 1, 2, 4, 5, 3, 6]);
      const merged = reshape(grouped, [B, N, h / 2, w / 2, 4 * c]);
      return this.reduction.forward(this.norm.forward(merged));
    });
  }
}

/** PatchSplit(in → F): LN(in), Linear(in → 4F, no bias); channel block 2·dh + dw goes to inner (2h+dh, 2w+dw). */
export class PatchSplit extends Module {
  norm: LayerNorm;
  reduction: Linear;
  constructor(ctx: InitContext, inDim: number, readonly outDim: number, eps: number) {
    super();
    this.norm = new LayerNorm(ctx, inDim, eps);
    this.reduction = new Linear(ctx, inDim, 4 * outDim, false);
  }
  forward(x: Tensor): Tensor {
    const [B, N, h, w] = x.shape;
    const F = this.outDim;
    return blockScope(() => {
      const y = reshape(this.reduction.forward(this.norm.forward(x)), [B, N, h, w, 2, 2, F]);
      return reshape(permute(y, [0, 1, 2, 4, 3, 5, 6]), [B, N, 2 * h, 2 * w, F]);
    });
  }
}
