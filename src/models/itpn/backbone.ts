// The iTPN backbone: HiViT (stride-4 and stride-8 MLP stages, PatchMerges, the main attention stage) plus the
// feature pyramid that iTPN pre-trains with it (spec §1, §2). Every pre-main and pyramid op is token-local, so the
// whole network can run on the visible tokens only (pixel pre-training) or with a mask token (CLIP pre-training).
// Mirrors itpn_pixel/models/models_itpn.py: iTPN (forward_features) and the pyramid in the pre-training models.
import type { Rng } from '../../engine/random';
import { Tensor } from '../../engine/tensor';
import { add, affine, broadcastTo, mul, permute, reshape, take, tensor } from '../../ops';
import { truncNormalParam, type InitContext } from '../../nn/init';
import { Linear } from '../../nn/layers';
import { Module } from '../../nn/module';
import type { ITPNConfig } from './configs';
import { AttentionBlock, MlpBlock, PatchEmbed, PatchMerge, PatchSplit, type BlockContext } from './layers';
import { interpolatePosEncoding, relativePositionIndex } from './pos_embed';

export type BackboneBlock = MlpBlock | PatchMerge | AttentionBlock;

export interface FeatureOptions {
  /** Pixel variant: ids of the visible tokens per sample, int32 [B, n] (tokens dropped at patch embedding). */
  idsKeep?: Tensor | null;
  /** CLIP variant: 0/1 float mask [B, N]; masked main tokens are replaced by `maskToken` before the main stage. */
  boolMaskedPos?: Tensor | null;
  maskToken?: Tensor | null;
  /** Also return the hidden state right after this main block (0-based). */
  auxTap?: number;
}

export interface Features {
  /** Main-stage output [B, n, C]. */
  x: Tensor;
  /** Stage outputs captured before each PatchMerge: [B, n, 4, 4, C/4] and [B, n, 2, 2, C/2]. */
  stages: [Tensor, Tensor];
  aux: Tensor | null;
  grid: [number, number];
}

export interface BackboneOptions {
  pyramid: boolean;
  /** fpn_depth override (detection uses 1). */
  fpnDepth?: number;
  /** Tokens of the absolute position table when it differs from img_size's grid (segmentation keeps 196). */
  apeTokens?: number;
}

export class ITPNBackbone extends Module {
  absolute_pos_embed: Tensor;
  relative_position_index: Tensor | null;
  patch_embed: PatchEmbed;
  blocks: BackboneBlock[];
  align_dim_16tofpn: Linear | null = null;
  fpn_modules: MlpBlock[] | null = null;
  align_dim_16to8: Linear | null = null;
  split_16to8: PatchSplit | null = null;
  block_16to8: MlpBlock[] | null = null;
  align_dim_8to4: Linear | null = null;
  split_8to4: PatchSplit | null = null;
  block_8to4: MlpBlock[] | null = null;

  readonly rng: Rng;
  readonly numMainStart: number;

  constructor(ctx: InitContext, readonly cfg: ITPNConfig, opts: BackboneOptions) {
    super();
    this.rng = ctx.rng;
    const C = cfg.embed_dim, eps = cfg.layer_norm_eps, grid = cfg.img_size / cfg.patch_size;
    this.absolute_pos_embed = truncNormalParam(ctx, [1, opts.apeTokens ?? grid * grid, C], 0.02);
    this.relative_position_index = null;
    if (cfg.rpe) {
      this.relative_position_index = tensor(ctx.backend, relativePositionIndex(grid), [grid * grid, grid * grid], 'int32');
      this.relative_position_index.kept = true;
      this._buffers.add('relative_position_index');
    }
    this.patch_embed = new PatchEmbed(ctx, cfg.in_chans, C / 4, cfg.inner_patches, eps);
    const total = cfg.mlp_depth1 + cfg.mlp_depth2 + cfg.depth;
    const dpr = Array.from({ length: total }, (_, i) => (total > 1 ? (cfg.drop_path_rate * i) / (total - 1) : 0));
    const lv = cfg.init_values;
    this.blocks = [];
    for (let i = 0; i < cfg.mlp_depth1; i++) this.blocks.push(new MlpBlock(ctx, C / 4, cfg.bridge_mlp_ratio, eps, dpr[i], lv));
    this.blocks.push(new PatchMerge(ctx, C / 4, eps));
    for (let i = 0; i < cfg.mlp_depth2; i++) this.blocks.push(new MlpBlock(ctx, C / 2, cfg.bridge_mlp_ratio, eps, dpr[cfg.mlp_depth1 + i], lv));
    this.blocks.push(new PatchMerge(ctx, C / 2, eps));
    this.numMainStart = this.blocks.length;
    for (let i = 0; i < cfg.depth; i++) {
      this.blocks.push(new AttentionBlock(ctx, C, cfg.num_heads, cfg.mlp_ratio, eps, dpr[cfg.mlp_depth1 + cfg.mlp_depth2 + i], lv, cfg.rpe ? grid : null));
    }
    if (opts.pyramid) {
      const F = cfg.fpn_dim, depth = opts.fpnDepth ?? cfg.fpn_depth;
      const fpnBlock = () => new MlpBlock(ctx, F, cfg.mlp_ratio, eps, 0, 0);
      this.align_dim_16tofpn = C !== F ? new Linear(ctx, C, F) : null;
      this.fpn_modules = [fpnBlock(), fpnBlock(), fpnBlock()];
      this.align_dim_16to8 = new Linear(ctx, C / 2, F, false);
      this.split_16to8 = new PatchSplit(ctx, C, F, eps);
      this.block_16to8 = Array.from({ length: depth }, fpnBlock);
      this.align_dim_8to4 = new Linear(ctx, C / 4, F, false);
      this.split_8to4 = new PatchSplit(ctx, F, F, eps);
      this.block_8to4 = Array.from({ length: depth }, fpnBlock);
    }
  }

  /** The main-stage blocks (attention), in order. */
  mainBlocks(): AttentionBlock[] {
    return this.blocks.slice(this.numMainStart) as AttentionBlock[];
  }

  /**
   * Runs patch embedding, the MLP stages and the main stage. Returns the main output, the two pre-merge stage
   * features (for the pyramid laterals) and optionally an intermediate main-stage state.
   */
  forwardFeatures(images: Tensor, opts: FeatureOptions = {}): Features {
    const [B, , H, W] = images.shape;
    if (H % 16 !== 0 || W % 16 !== 0) throw new Error(`input ${H}×${W} is not a multiple of 16`);
    const Hp = H / 16, Wp = W / 16;
    const bc: BlockContext = { rng: this.rng };
    let x = this.patch_embed.forward(images); // [B, N, 4, 4, C/4]
    if (opts.idsKeep) x = take(x, opts.idsKeep, 1); // [B, n, 4, 4, C/4]
    const n = x.shape[1];
    const stages: Tensor[] = [];
    let i = 0;
    for (; i < this.numMainStart; i++) {
      const blk = this.blocks[i];
      if (blk instanceof PatchMerge) {
        stages.push(x);
        x = blk.forward(x);
      } else {
        x = (blk as MlpBlock).forward(x, bc);
      }
    }
    const C = this.cfg.embed_dim;
    x = reshape(x, [B, n, C]);
    if (opts.boolMaskedPos && opts.maskToken) {
      const m = reshape(opts.boolMaskedPos, [B, n, 1]);
      x = add(mul(x, affine(m, -1, 1)), mul(opts.maskToken, m)); // x·(1−m) + mask_token·m
    }
    let pos = interpolatePosEncoding(this.absolute_pos_embed, Hp, Wp, n);
    if (opts.idsKeep) pos = take(broadcastTo(pos, [B, Hp * Wp, C]), opts.idsKeep, 1);
    x = add(x, pos);
    const rpeBias = this.rpeBiasFn(Hp, Wp, opts.idsKeep ?? null, B);
    let aux: Tensor | null = null;
    const main = this.mainBlocks();
    main.forEach((blk, k) => {
      x = blk.forward(x, bc, rpeBias(blk));
      if (opts.auxTap === k) aux = x;
    });
    return { x, stages: [stages[0], stages[1]], aux, grid: [Hp, Wp] };
  }

  /** Per-block relative position bias [1 or B, heads, n, n] from its table and the (gathered) index. */
  rpeBiasFn(Hp: number, Wp: number, idsKeep: Tensor | null, B: number): (blk: AttentionBlock) => Tensor | null {
    const index = this.relative_position_index;
    if (!index) return () => null;
    const N0 = index.shape[0];
    if (Hp * Wp !== N0) throw new Error(`relative position bias built for ${N0} tokens, input has ${Hp * Wp}`);
    let flat: Tensor;
    let lead: number;
    let n: number;
    if (idsKeep) {
      // index gathered per sample on both axes with the kept ids
      const full = index.toArray(), ids = idsKeep.toArray();
      n = idsKeep.shape[1];
      const g = new Int32Array(B * n * n);
      for (let b = 0; b < B; b++)
        for (let r = 0; r < n; r++)
          for (let c = 0; c < n; c++) g[(b * n + r) * n + c] = full[ids[b * n + r] * N0 + ids[b * n + c]];
      flat = tensor(index.backend, g, [B * n * n], 'int32');
      lead = B;
    } else {
      flat = reshape(index, [N0 * N0]);
      lead = 1;
      n = N0;
    }
    return (blk) => {
      const table = blk.attn.relative_position_bias_table;
      if (!table) return null;
      const heads = table.shape[1];
      // one shared index: gather from the transposed [heads, R] table straight into [heads, n·n] (a copy of the
      // small table instead of a permute of the n²·heads result)
      if (lead === 1) return reshape(take(permute(table, [1, 0]), flat, 1), [1, heads, n, n]);
      return permute(reshape(take(table, flat, 0), [lead, n, n, heads]), [0, 3, 1, 2]);
    };
  }

  /** The pyramid on the (visible) tokens: [P16, P8, P4] after fpn_modules, as [B, n, s, s, F] with s = 1, 2, 4. */
  forwardPyramid(f: Features): [Tensor, Tensor, Tensor] {
    if (!this.fpn_modules || !this.split_16to8 || !this.block_16to8 || !this.align_dim_16to8 || !this.split_8to4 || !this.block_8to4 || !this.align_dim_8to4) {
      throw new Error('this model was built without the feature pyramid');
    }
    const bc: BlockContext = { rng: this.rng };
    const [B, n, C] = f.x.shape;
    const x5 = reshape(f.x, [B, n, 1, 1, C]);
    const p16 = this.align_dim_16tofpn ? this.align_dim_16tofpn.forward(x5) : x5;
    let p8 = add(this.split_16to8.forward(x5), this.align_dim_16to8.forward(f.stages[1]));
    for (const blk of this.block_16to8) p8 = blk.forward(p8, bc);
    let p4 = add(this.split_8to4.forward(p8), this.align_dim_8to4.forward(f.stages[0]));
    for (const blk of this.block_8to4) p4 = blk.forward(p4, bc);
    const outs = [p16, p8, p4].map((p, i) => this.fpn_modules![i].forward(p, bc));
    return [outs[0], outs[1], outs[2]];
  }
}

/** A pyramid level [B, N, s, s, F] on an Hp×Wp grid as an NCHW map [B, F, Hp·s, Wp·s]. */
export function levelToNCHW(level: Tensor, Hp: number, Wp: number): Tensor {
  const [B, , s, , F] = level.shape;
  return reshape(permute(reshape(level, [B, Hp, Wp, s, s, F]), [0, 5, 1, 3, 2, 4]), [B, F, Hp * s, Wp * s]);
}
