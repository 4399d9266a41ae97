// Layer-wise learning-rate decay for fine-tuning (spec §6.1; itpn_pixel/util/lr_decay.py, after MAE's
// param_groups_lrd and BEiT). "Layers" are the backbone's MLP and attention blocks, PatchMerge excluded, so
// L = m1 + m2 + depth + 1 (31 for iTPN-B). The nominal decay is re-normalised to a 12-layer ViT:
// d = decay^(13/L), scale(id) = d^(L − id). Layer ids come from parameter names:
//   0: absolute_pos_embed, patch_embed.*
//   blocks.i.*: the 1-based position of block i among the non-PatchMerge blocks; a PatchMerge takes the id of the
//               MLP block before it
//   everything else (fc_norm, head): L, scale 1.
// No weight decay for 1-D parameters, biases, absolute_pos_embed and *.relative_position_bias_table.
import type { Tensor } from '../engine/tensor';
import type { ParamGroup } from './adamw';

/** Where the two PatchMerges sit in `blocks`: after mlpDepth1 MLP blocks and after mlpDepth2 more. */
export interface BlockLayout {
  mlpDepth1: number;
  mlpDepth2: number;
  depth: number;
}

export interface LayerDecayOptions {
  /** Nominal per-layer decay of a 12-layer ViT (0.60 for iTPN-B pixel). */
  layerDecay: number;
  weightDecay: number;
}

export interface ParamRow {
  name: string;
  layer_id: number;
  lr_scale: number;
  weight_decay: number;
}

/** L: the non-PatchMerge backbone blocks plus one. */
export function numLayers(layout: BlockLayout): number {
  return layout.mlpDepth1 + layout.mlpDepth2 + layout.depth + 1;
}

/** Layer id of `blocks.i` (see the header). */
export function blockLayerId(i: number, layout: BlockLayout): number {
  const merge1 = layout.mlpDepth1, merge2 = layout.mlpDepth1 + layout.mlpDepth2 + 1;
  if (i === merge1 || i === merge2) return i === 0 ? 0 : blockLayerId(i - 1, layout);
  const mergesBefore = (i > merge1 ? 1 : 0) + (i > merge2 ? 1 : 0);
  return i + 1 - mergesBefore;
}

export function layerIdOf(name: string, layout: BlockLayout): number {
  if (name === 'absolute_pos_embed' || name.startsWith('patch_embed.')) return 0;
  const m = /^blocks\.(\d+)\./.exec(name);
  if (m) return blockLayerId(Number(m[1]), layout);
  return numLayers(layout);
}

export function isWeightDecayExempt(name: string, t: Tensor): boolean {
  return t.rank === 1 || name.endsWith('.bias') || name === 'absolute_pos_embed' || name.endsWith('.relative_position_bias_table');
}

/** One row per parameter, in the given (state-dict) order. */
export function layerDecayTable(named: [string, Tensor][], layout: BlockLayout, opts: LayerDecayOptions): ParamRow[] {
  const L = numLayers(layout);
  const d = opts.layerDecay ** (13 / L);
  return named.map(([name, t]) => {
    const id = layerIdOf(name, layout);
    return { name, layer_id: id, lr_scale: d ** (L - id), weight_decay: isWeightDecayExempt(name, t) ? 0 : opts.weightDecay };
  });
}

/** AdamW groups `layer_<id>_<decay|no_decay>` (MAE param_groups_lrd), in order of first appearance. */
export function layerDecayParamGroups(named: [string, Tensor][], layout: BlockLayout, opts: LayerDecayOptions): ParamGroup[] {
  const groups = new Map<string, ParamGroup>();
  const rows = layerDecayTable(named, layout, opts);
  rows.forEach((row, i) => {
    const key = `layer_${row.layer_id}_${row.weight_decay > 0 ? 'decay' : 'no_decay'}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { name: key, params: [], lrScale: row.lr_scale, weightDecay: row.weight_decay }));
    g.params.push({ name: row.name, tensor: named[i][1] });
  });
  return [...groups.values()];
}
