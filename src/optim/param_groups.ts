// Weight-decay groups for pre-training (timm add_weight_decay, as the official scripts call it): no decay for
// 1-D parameters and biases, plus an explicit skip list (CLIP: absolute_pos_embed). Pixel pre-training passes no
// skip list, so its sin-cos absolute_pos_embed and the mask token are decayed (spec §1.6, §4.2).
import type { Tensor } from '../engine/tensor';
import type { ParamGroup } from './adamw';

export function pretrainParamGroups(named: [string, Tensor][], weightDecay: number, skip: string[] = []): ParamGroup[] {
  const decay: ParamGroup = { name: 'decay', params: [], lrScale: 1, weightDecay };
  const noDecay: ParamGroup = { name: 'no_decay', params: [], lrScale: 1, weightDecay: 0 };
  for (const [name, tensor] of named) {
    const exempt = tensor.rank === 1 || name.endsWith('.bias') || skip.includes(name);
    (exempt ? noDecay : decay).params.push({ name, tensor });
  }
  return [noDecay, decay];
}
