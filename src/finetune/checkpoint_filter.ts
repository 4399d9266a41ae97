// Loading a pre-training state into a downstream model (spec §6.1 and the §8.3 loading map; MAE main_finetune.py,
// timm checkpoint_filter_fn): keep the backbone (and, for dense models, the pyramid), drop the listed
// pre-training-only keys, resize absolute_pos_embed bicubically when the grid differs, then check the exact set
// of missing keys before a single value is written. Anything unexpected or any shape mismatch is an error that
// names the keys and shapes.
import { fmtShape, shapesEqual } from '../engine/shape';
import { noGrad, tidy } from '../engine/scope';
import { toF32, type RawTensor } from '../io/raw_tensor';
import { permute, resize2d, tensor } from '../ops';
import { loadStateDict, type LoadReport } from '../models/load_state_dict';
import type { ITPNBackbone } from '../models/itpn/backbone';

/** Keys only the pre-training heads use (pixel decoder, CLIP heads and norms, mask token). */
const PRETRAIN_HEAD_KEYS = [/^mask_token$/, /^decoder/, /^lm_/, /^norm/, /^cls_pt_layers/, /^mfm_heads\./];
/** The feature pyramid, which classification drops. */
const PYRAMID_KEYS = [/^align_dim/, /^fpn_modules/, /^split_/, /^block_16to8/, /^block_8to4/];

export type Target = 'classifier' | 'backbone' | 'pyramid';

export interface FilterResult {
  state: Map<string, RawTensor>;
  dropped: string[];
  /** Set when absolute_pos_embed was resized: [from tokens, to tokens]. */
  resizedPosEmbed: [number, number] | null;
}

/** Drops what `target` does not use and resizes absolute_pos_embed to the model's grid. */
export function filterPretrainState(sd: Map<string, RawTensor>, model: ITPNBackbone, target: Target): FilterResult {
  const dropList = target === 'pyramid' ? PRETRAIN_HEAD_KEYS : [...PRETRAIN_HEAD_KEYS, ...PYRAMID_KEYS];
  const state = new Map<string, RawTensor>();
  const dropped: string[] = [];
  for (const [k, v] of sd) (dropList.some((re) => re.test(k)) ? dropped.push(k) : state.set(k, v));
  let resizedPosEmbed: [number, number] | null = null;
  const ape = state.get('absolute_pos_embed');
  const [, tokens, C] = model.absolute_pos_embed.shape;
  // only the grid is adapted; another width is a different architecture, reported with the other mismatches
  if (ape && ape.shape.length === 3 && ape.shape[2] === C && ape.shape[1] !== tokens) {
    state.set('absolute_pos_embed', resizePosEmbed(ape, tokens, model));
    resizedPosEmbed = [ape.shape[1], tokens];
  }
  return { state, dropped, resizedPosEmbed };
}

/**
 * run_itpn_finetuning.py: the [1, N0, C] table as an s0×s0 grid, F.interpolate(bicubic, size=(s1, s1),
 * align_corners=False), back to [1, N1, C].
 */
export function resizePosEmbed(ape: RawTensor, tokens: number, model: ITPNBackbone): RawTensor {
  const [one, N0, C] = ape.shape;
  const s0 = Math.round(Math.sqrt(N0)), s1 = Math.round(Math.sqrt(tokens));
  if (one !== 1 || s0 * s0 !== N0 || s1 * s1 !== tokens || C !== model.absolute_pos_embed.shape[2]) {
    throw new Error(`absolute_pos_embed ${fmtShape(ape.shape)} cannot be resized to the model's ${fmtShape(model.absolute_pos_embed.shape)}`);
  }
  const data = noGrad(() => tidy(() => {
    const grid = permute(tensor(model.absolute_pos_embed.backend, toF32(ape), [1, s0, s0, C]), [0, 3, 1, 2]); // [1, C, s0, s0]
    const resized = resize2d(grid, { mode: 'bicubic', size: [s1, s1] }); // [1, C, s1, s1]
    return permute(resized, [0, 2, 3, 1]).toFloat32Array();
  }));
  return { dtype: 'F32', shape: [1, tokens, C], data };
}

/** Missing keys a target may leave at their initial values. */
function allowedMissing(target: Target, sd: Map<string, RawTensor>): (name: string) => boolean {
  const hasRpe = [...sd.keys()].some((k) => k.endsWith('relative_position_bias_table'));
  return (name) => {
    if (target === 'classifier' && (name.startsWith('fc_norm.') || name.startsWith('head.'))) return true;
    // pixel checkpoints have no relative position bias: the fine-tuning model starts from zero tables
    if (!hasRpe && (name === 'relative_position_index' || name.endsWith('.relative_position_bias_table'))) return true;
    return false;
  };
}

/**
 * Loads a pre-training state (itpn or official) into `model`: classifier (backbone only; fc_norm and head stay
 * initialised), backbone (no pyramid) or pyramid (backbone and pyramid, e.g. the detection backbone).
 */
export function loadPretrainState(model: ITPNBackbone, sd: Map<string, RawTensor>, target: Target, source: string): LoadReport & FilterResult {
  const filtered = filterPretrainState(sd, model, target);
  const own = model.stateDict();
  const okMissing = allowedMissing(target, sd);
  const mismatches: string[] = [];
  const unexpected: string[] = [];
  for (const [k, v] of filtered.state) {
    const t = own.get(k);
    if (!t) unexpected.push(`${k} ${fmtShape(v.shape)}`);
    else if (!shapesEqual(v.shape, t.shape)) mismatches.push(`${k}: checkpoint ${fmtShape(v.shape)} vs model ${fmtShape(t.shape)}`);
  }
  const missing = [...own.keys()].filter((k) => !filtered.state.has(k) && !okMissing(k)).map((k) => `${k} ${fmtShape(own.get(k)!.shape)}`);
  if (mismatches.length || unexpected.length || missing.length) {
    const list = (title: string, xs: string[]) => (xs.length ? `\n  ${title} (${xs.length}):\n    ${xs.slice(0, 30).join('\n    ')}${xs.length > 30 ? '\n    …' : ''}` : '');
    throw new Error(`${source} does not fit this ${target} model (another architecture or configuration?):` +
      list('shape mismatches', mismatches) + list('keys the model lacks', unexpected) + list('missing keys', missing));
  }
  const report = loadStateDict(model, filtered.state, { strict: false, source });
  return { ...report, ...filtered };
}
