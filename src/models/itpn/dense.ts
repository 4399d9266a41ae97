// Backbones for dense prediction (spec §2.1, §6.2, §6.3): the pre-trained pyramid emitted directly as NCHW maps.
// Detection (det/mmdet/models/backbones/iTPN_pixel.py): 5 levels of F channels, extra levels average-pooled.
// Segmentation (seg/backbone/iTPN.py): 4 levels, each pyramid level concatenated with the same-scale backbone
// feature, the stride-32 level max-pooled.
import type { Tensor } from '../../engine/tensor';
import { avgPool2x2, concat, maxPool2x2, reshape } from '../../ops';
import type { InitContext } from '../../nn/init';
import type { ITPNConfig } from './configs';
import { ITPNBackbone, levelToNCHW, type Features } from './backbone';

export type DenseKind = 'detection' | 'segmentation';

export class ITPNDenseBackbone extends ITPNBackbone {
  constructor(ctx: InitContext, cfg: ITPNConfig, readonly kind: DenseKind, readonly numOuts: number) {
    // the segmentation backbone keeps the 224-pre-training table (196 tokens) and resizes it at run time
    super(ctx, cfg, { pyramid: true, apeTokens: kind === 'segmentation' ? 196 : undefined });
  }

  /** Maps ordered by stride: [s4, s8, s16, s32(, s64)]. */
  forward(images: Tensor): Tensor[] {
    return this.forwardMaps(this.forwardFeatures(images));
  }

  /** The maps from backbone features already computed (callers that also want the main-stage output). */
  forwardMaps(feats: Features): Tensor[] {
    const [p16, p8, p4] = this.forwardPyramid(feats);
    const [Hp, Wp] = feats.grid;
    let maps = [p4, p8, p16].map((p) => levelToNCHW(p, Hp, Wp));
    if (this.kind === 'segmentation') {
      const [B, n, C] = feats.x.shape;
      const backbone = [feats.stages[0], feats.stages[1], reshape(feats.x, [B, n, 1, 1, C])].map((f) => levelToNCHW(f, Hp, Wp));
      maps = maps.map((m, i) => concat([m, backbone[i]], 1));
      if (this.numOuts >= 4) maps.push(maxPool2x2(maps[2]));
    } else {
      for (let i = 3; i < this.numOuts; i++) maps.push(avgPool2x2(maps[i - 1]));
    }
    return maps;
  }
}
