// Gathering and scattering rows along an axis: token dropping (ids_keep), un-shuffling (ids_restore),
// and table lookups (relative position bias).
import type { GatherAttrs } from '../engine/backend';
import { normAxis } from '../engine/shape';
import { record, Tensor } from '../engine/tensor';
import { zeros } from './creation';

function attrsFor(x: Tensor, idx: Tensor, ax: number): { attrs: GatherAttrs; outShape: number[] } {
  if (idx.dtype !== 'int32') throw new Error(`index tensor must be int32, got ${idx.dtype}`);
  const pre = x.shape.slice(0, ax), post = x.shape.slice(ax + 1);
  const outer = pre.reduce((p, d) => p * d, 1);
  const inner = post.reduce((p, d) => p * d, 1);
  // Batched when idx has exactly the leading axes of x plus one: one row of ids per leading slice.
  const idxBatched = ax > 0 && idx.rank === ax + 1 && pre.every((d, i) => d === idx.shape[i]);
  if (idxBatched) {
    const k = idx.shape[ax];
    return { attrs: { outer, n: x.shape[ax], inner, k, idxBatched }, outShape: [...pre, k, ...post] };
  }
  return { attrs: { outer, n: x.shape[ax], inner, k: idx.size, idxBatched }, outShape: [...pre, ...idx.shape, ...post] };
}

/**
 * Selects entries of x along `axis` by integer ids. idx is either [k...] (shared by every leading slice) or
 * [...x.shape[:axis], k] (one row of ids per leading slice, as torch.gather on the token axis).
 */
export function take(x: Tensor, idx: Tensor, axis: number): Tensor {
  const ax = normAxis(axis, x.rank);
  const { attrs, outShape } = attrsFor(x, idx, ax);
  const out = Tensor.empty(x.backend, outShape, x.dtype);
  x.backend.kernels.gather(x.storage, idx.storage, out.storage, attrs);
  return record(out, 'take', [x], (g) => {
    const dx = zeros(x.backend, x.shape, x.dtype);
    x.backend.kernels.scatterAdd(g.storage, idx.storage, dx.storage, attrs);
    return [dx];
  });
}

/**
 * The adjoint of `take` along `axis`: a zero tensor with `n` entries on that axis, where entry idx[k] receives
 * (adds) src's entry k. With a permutation this places tokens back (un-shuffling); with kept ids it scatters
 * visible tokens into a full-length sequence.
 */
export function scatter(src: Tensor, idx: Tensor, axis: number, n: number): Tensor {
  const ax = normAxis(axis, src.rank);
  const shape = [...src.shape];
  const batched = ax > 0 && idx.rank === ax + 1;
  const k = batched ? idx.shape[ax] : idx.size;
  if (src.shape[ax] !== k) throw new Error(`scatter: src has ${src.shape[ax]} entries on axis ${ax}, index has ${k}`);
  shape[ax] = n;
  const out = zeros(src.backend, shape, src.dtype);
  const { attrs } = attrsFor(out, idx, ax);
  src.backend.kernels.scatterAdd(src.storage, idx.storage, out.storage, attrs);
  return record(out, 'scatter', [src], (g) => [take(g, idx, ax)]);
}
