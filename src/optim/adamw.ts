// AdamW (decoupled weight decay, torch.optim.AdamW semantics) over parameter groups with their own lr scale and
// weight decay, updated in place by the backend's fused kernel.
import { noGrad, keep } from '../engine/scope';
import type { Tensor } from '../engine/tensor';
import { zerosLike } from '../ops';

export interface ParamGroup {
  name: string;
  params: Array<{ name: string; tensor: Tensor }>;
  lrScale: number;
  weightDecay: number;
}

export interface AdamWOptions {
  beta1: number;
  beta2: number;
  eps: number;
}

export class AdamW {
  step = 0;
  readonly m = new Map<string, Tensor>();
  readonly v = new Map<string, Tensor>();
  constructor(readonly groups: ParamGroup[], readonly opts: AdamWOptions) {
    for (const g of groups) {
      for (const p of g.params) {
        this.m.set(p.name, keep(zerosLike(p.tensor)));
        this.v.set(p.name, keep(zerosLike(p.tensor)));
      }
    }
  }

  /** One update with base learning rate `lr`; parameters without a gradient are left alone. */
  update(lr: number): void {
    this.step++;
    const bc1 = 1 - this.opts.beta1 ** this.step, bc2 = 1 - this.opts.beta2 ** this.step;
    noGrad(() => {
      for (const g of this.groups) {
        for (const p of g.params) {
          if (!p.tensor.grad) continue;
          p.tensor.backend.kernels.adamw(p.tensor.storage, p.tensor.grad.storage, this.m.get(p.name)!.storage, this.v.get(p.name)!.storage, {
            lr: lr * g.lrScale, beta1: this.opts.beta1, beta2: this.opts.beta2, eps: this.opts.eps,
            weightDecay: g.weightDecay, biasCorrection1: bc1, biasCorrection2: bc2,
          });
        }
      }
    });
  }

  zeroGrad(): void {
    for (const g of this.groups) for (const p of g.params) {
      p.tensor.grad?.dispose();
      p.tensor.grad = null;
    }
  }
}

/** Scales all gradients so their global L2 norm is at most maxNorm; returns the norm before clipping. */
export function clipGradNorm(params: Tensor[], maxNorm: number): number {
  let sq = 0;
  for (const p of params) {
    if (!p.grad) continue;
    const g = p.grad.toArray();
    for (let i = 0; i < g.length; i++) sq += g[i] * g[i];
  }
  const norm = Math.sqrt(sq);
  if (Number.isFinite(maxNorm) && maxNorm > 0 && norm > maxNorm) {
    const s = maxNorm / (norm + 1e-6);
    for (const p of params) if (p.grad) p.backend.kernels.affine(p.grad.storage, p.grad.storage, s, 0);
  }
  return norm;
}
