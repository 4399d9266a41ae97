// iTPN configurations with the official constructor argument names (so a fixture's config.json loads as is),
// and the named presets. itpn_tiny and itpn_small are this project's additions for CPU-scale work: the official
// code trained nothing below base (spec §1.2).

export interface ITPNConfig {
  img_size: number;
  patch_size: number; // main-token size (16)
  inner_patches: number; // 4×4 sub-patches per main token
  in_chans: number;
  embed_dim: number; // C, the main-stage width
  mlp_depth1: number; // MLP blocks at stride 4
  mlp_depth2: number; // MLP blocks at stride 8
  depth: number; // main-stage attention blocks
  num_heads: number;
  bridge_mlp_ratio: number; // MLP ratio of the stride-4/8 stages
  mlp_ratio: number;
  fpn_dim: number;
  fpn_depth: number;
  rpe: boolean;
  /** Layer scale init (CLIP code path); 0 disables γ entirely (pixel code path). */
  init_values: number;
  layer_norm_eps: number;
  drop_path_rate: number;
  decoder_embed_dim: number;
  decoder_depth: number;
  decoder_num_heads: number;
  mask_ratio: number;
  num_classes: number;
  teacher_dim: number;
  cls_pt_layers_eps: number;
}

const common: Omit<ITPNConfig, 'embed_dim' | 'mlp_depth1' | 'mlp_depth2' | 'depth' | 'num_heads' | 'fpn_dim' | 'decoder_embed_dim' | 'decoder_depth' | 'decoder_num_heads'> = {
  img_size: 224,
  patch_size: 16,
  inner_patches: 4,
  in_chans: 3,
  bridge_mlp_ratio: 3,
  mlp_ratio: 4,
  fpn_depth: 2,
  rpe: false,
  init_values: 0,
  layer_norm_eps: 1e-6,
  drop_path_rate: 0,
  mask_ratio: 0.75,
  num_classes: 1000,
  teacher_dim: 512,
  cls_pt_layers_eps: 1e-5,
};

export type ArchName = 'itpn_tiny' | 'itpn_small' | 'itpn_base' | 'itpn_large' | 'itpn_large_256';

export const ARCHS: Record<ArchName, ITPNConfig> = {
  // official "3324": C 512, 3+3 MLP blocks, 24 main blocks, 8 heads; decoder 512-d, 8 blocks, 16 heads
  itpn_base: { ...common, embed_dim: 512, mlp_depth1: 3, mlp_depth2: 3, depth: 24, num_heads: 8, fpn_dim: 256, decoder_embed_dim: 512, decoder_depth: 8, decoder_num_heads: 16 },
  // official "2240": C 768, 2+2, 40, 12 heads
  itpn_large: { ...common, embed_dim: 768, mlp_depth1: 2, mlp_depth2: 2, depth: 40, num_heads: 12, fpn_dim: 256, decoder_embed_dim: 512, decoder_depth: 8, decoder_num_heads: 16 },
  // L/14-equivalent: 256 input, 16×16 tokens (teacher CLIP-L/14 at 224)
  itpn_large_256: { ...common, img_size: 256, embed_dim: 768, mlp_depth1: 2, mlp_depth2: 2, depth: 40, num_heads: 12, fpn_dim: 256, decoder_embed_dim: 512, decoder_depth: 8, decoder_num_heads: 16, teacher_dim: 768 },
  // this project's CPU-scale sizes
  itpn_small: { ...common, embed_dim: 384, mlp_depth1: 2, mlp_depth2: 2, depth: 12, num_heads: 6, fpn_dim: 192, decoder_embed_dim: 256, decoder_depth: 4, decoder_num_heads: 8 },
  itpn_tiny: { ...common, embed_dim: 192, mlp_depth1: 1, mlp_depth2: 1, depth: 6, num_heads: 3, fpn_dim: 96, decoder_embed_dim: 192, decoder_depth: 2, decoder_num_heads: 3 },
};

export function isArchName(name: string): name is ArchName {
  return Object.prototype.hasOwnProperty.call(ARCHS, name);
}

/**
 * Builds a full config from an official-style argument object (a fixture's config.json, or CLI overrides).
 * `mlp_depth` sets both MLP stages. Unknown keys that look like constructor arguments are rejected.
 */
export function resolveConfig(base: ITPNConfig, overrides: Record<string, unknown>): ITPNConfig {
  const cfg: ITPNConfig = { ...base };
  const ignored = new Set(['variant', 'model', 'loss', 'notes', 'input_hw', 'num_outs', 'norm_pix_loss', 'aux_tap', 'target', 'pooled', 'activation']);
  for (const [k, v] of Object.entries(overrides)) {
    if (ignored.has(k) || v === undefined) continue;
    if (k === 'mlp_depth') {
      cfg.mlp_depth1 = cfg.mlp_depth2 = Number(v);
    } else if (k in cfg) {
      const cur = (cfg as unknown as Record<string, unknown>)[k];
      if (typeof cur !== typeof v && !(k === 'init_values' && v === null)) {
        throw new Error(`config key ${k}: expected ${typeof cur}, got ${JSON.stringify(v)}`);
      }
      (cfg as unknown as Record<string, unknown>)[k] = k === 'init_values' && v === null ? 0 : v;
    } else {
      throw new Error(`unknown config key "${k}"`);
    }
  }
  if (cfg.img_size % cfg.patch_size !== 0) throw new Error(`img_size ${cfg.img_size} is not a multiple of patch_size ${cfg.patch_size}`);
  const tokens = (cfg.img_size / cfg.patch_size) ** 2;
  if (!(cfg.mask_ratio >= 0 && cfg.mask_ratio <= 1) || Math.floor(tokens * (1 - cfg.mask_ratio)) >= tokens) {
    // the pixel loss is a mean over the masked patches: none masked would make it 0/0 at the first step
    throw new Error(`mask_ratio ${cfg.mask_ratio} masks none of the ${tokens} patches of a ${cfg.img_size}px input (it must be in (0, 1])`);
  }
  if (cfg.embed_dim % 4 !== 0 || cfg.embed_dim % cfg.num_heads !== 0) throw new Error(`embed_dim ${cfg.embed_dim} must divide by 4 and by num_heads ${cfg.num_heads}`);
  return cfg;
}
