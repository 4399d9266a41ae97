// Constructor settings a pre-training state implies, for weight files that come without a config (official .pth):
// relative position bias, layer scale, pyramid depth and input size are all visible in the keys and shapes.
import type { RawTensor } from '../../io/raw_tensor';

/** Layer scale (γ) exists in CLIP checkpoints only; a model needs it exactly when the weights have it. */
export function hasLayerScale(sd: Map<string, RawTensor>): boolean {
  for (const k of sd.keys()) if (/^blocks\.\d+\.gamma_[12]$/.test(k)) return true;
  return false;
}

/** Overrides for taskConfig(arch, ...) that make the model's parameters match the state's. */
export function configOverridesFromState(sd: Map<string, RawTensor>): Record<string, unknown> {
  const keys = [...sd.keys()];
  const o: Record<string, unknown> = {
    rpe: keys.some((k) => /^blocks\.\d+\.attn\.relative_position_bias_table$/.test(k)),
    init_values: hasLayerScale(sd) ? 0.1 : 0,
  };
  const depth = new Set(keys.filter((k) => k.startsWith('block_16to8.')).map((k) => k.split('.')[1])).size;
  if (depth > 0) o.fpn_depth = depth;
  const ape = sd.get('absolute_pos_embed');
  if (ape) o.img_size = Math.round(Math.sqrt(ape.shape[1])) * 16;
  return o;
}
