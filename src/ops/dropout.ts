// Dropout and per-sample stochastic depth (timm DropPath), with masks drawn from an explicit Rng.
import type { Rng } from '../engine/random';
import { allocHostArray } from '../engine/dtype';
import { Tensor } from '../engine/tensor';
import { tensor } from './creation';
import { mul } from './elementwise';

export function dropout(x: Tensor, p: number, rng: Rng, training: boolean): Tensor {
  if (!training || p === 0) return x;
  const m = allocHostArray(x.dtype, x.size);
  for (let i = 0; i < m.length; i++) m[i] = rng.uniform() < p ? 0 : 1 / (1 - p);
  return mul(x, tensor(x.backend, m, x.shape));
}

/** Zeroes whole samples (axis 0) with probability p and rescales the rest by 1/(1−p). */
export function dropPath(x: Tensor, p: number, rng: Rng, training: boolean): Tensor {
  if (!training || p === 0) return x;
  const B = x.shape[0];
  const m = allocHostArray(x.dtype, B);
  for (let i = 0; i < B; i++) m[i] = rng.uniform() < 1 - p ? 1 / (1 - p) : 0;
  return mul(x, tensor(x.backend, m, [B, ...x.shape.slice(1).map(() => 1)]));
}
