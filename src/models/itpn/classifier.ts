// The fine-tuning classifier (spec §1.9, §6.1): the backbone without pyramid, mean-pool of the main tokens,
// fc_norm, head. Mirrors itpn_pixel/models/models_itpn.py: iTPN with num_classes.
import type { Tensor } from '../../engine/tensor';
import { mean } from '../../ops';
import { type InitContext } from '../../nn/init';
import { LayerNorm, Linear } from '../../nn/layers';
import { truncNormalParam } from '../../nn/init';
import type { ITPNConfig } from './configs';
import { ITPNBackbone } from './backbone';

export class ITPNClassifier extends ITPNBackbone {
  fc_norm: LayerNorm;
  head: Linear;
  constructor(ctx: InitContext, cfg: ITPNConfig) {
    super(ctx, cfg, { pyramid: false });
    this.fc_norm = new LayerNorm(ctx, cfg.embed_dim, cfg.layer_norm_eps);
    this.head = new Linear(ctx, cfg.embed_dim, cfg.num_classes);
    // the fine-tuning script re-initialises the head with trunc_normal(std 2e-5)
    this.head.weight.dispose();
    this.head.weight = truncNormalParam(ctx, [cfg.num_classes, cfg.embed_dim], 2e-5);
  }

  /** Pooled, normalised embedding [B, C]. */
  forwardEmbedding(images: Tensor): Tensor {
    const { x } = this.forwardFeatures(images);
    return this.fc_norm.forward(mean(x, 1));
  }

  forward(images: Tensor): Tensor {
    return this.head.forward(this.forwardEmbedding(images));
  }
}
