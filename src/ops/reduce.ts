// Reductions over axes (sum, mean, max, var), and sumToShape: the adjoint of broadcasting.
import { normAxis, shapesEqual, type Shape } from '../engine/shape';
import { record, Tensor } from '../engine/tensor';
import { add, affine, compare, mul } from './elementwise';
import { broadcastTo } from './movement';

function reduceRaw(op: 'sum' | 'max', x: Tensor, axes: number[]): Tensor {
  // Each run of adjacent reduced axes is one [outer, r, inner] pass (runs from the last), so a full sum is a
  // single pass accumulated in double by the kernel, not one float32 rounding per axis.
  const set = new Set(axes.map((a) => normAxis(a, x.rank)));
  const runs: Array<[number, number]> = [];
  for (let ax = 0; ax < x.rank; ax++) {
    if (!set.has(ax)) continue;
    if (runs.length > 0 && runs[runs.length - 1][1] === ax - 1) runs[runs.length - 1][1] = ax;
    else runs.push([ax, ax]);
  }
  let cur = x;
  let shape = [...x.shape];
  const prod = (from: number, to: number) => shape.slice(from, to).reduce((p, d) => p * d, 1);
  for (const [first, last] of runs.reverse()) {
    const outer = prod(0, first), r = prod(first, last + 1), inner = prod(last + 1, shape.length);
    shape = shape.map((d, i) => (i >= first && i <= last ? 1 : d));
    const out = Tensor.empty(x.backend, shape, x.dtype);
    x.backend.kernels.reduce(op, cur.storage, out.storage, outer, r, inner);
    if (cur !== x) cur.dispose();
    cur = out;
  }
  return cur === x ? x.view(x.shape) : cur;
}

function keptShape(shape: Shape, axes: number[], keepdim: boolean): number[] {
  const set = new Set(axes.map((a) => normAxis(a, shape.length)));
  const out: number[] = [];
  shape.forEach((d, i) => {
    if (!set.has(i)) out.push(d);
    else if (keepdim) out.push(1);
  });
  return out;
}

function allAxes(x: Tensor): number[] {
  return x.shape.map((_, i) => i);
}

export function sum(x: Tensor, axes: number | number[] = allAxes(x), keepdim = false): Tensor {
  const ax = typeof axes === 'number' ? [axes] : axes;
  const kept = reduceRaw('sum', x, ax);
  const out = kept.view(keptShape(x.shape, ax, keepdim));
  kept.dispose();
  return record(out, 'sum', [x], (g) => [broadcastTo(g.view(keptShape(x.shape, ax, true)), x.shape)]);
}

export function mean(x: Tensor, axes: number | number[] = allAxes(x), keepdim = false): Tensor {
  const ax = typeof axes === 'number' ? [axes] : axes;
  const n = ax.reduce((p, a) => p * x.shape[normAxis(a, x.rank)], 1);
  return affine(sum(x, ax, keepdim), 1 / n, 0);
}

/** Maximum over axes; the gradient goes to every position equal to the maximum (as torch.amax). */
export function max(x: Tensor, axes: number | number[], keepdim = false): Tensor {
  const ax = typeof axes === 'number' ? [axes] : axes;
  const kept = reduceRaw('max', x, ax);
  const out = kept.view(keptShape(x.shape, ax, keepdim));
  return record(out, 'max', [x], (g) => {
    const mask = compare('eq', x, kept);
    const count = reduceRaw('sum', mask, ax);
    const share = mul(g.view(kept.shape), reciprocal(count));
    return [mul(mask, share)];
  });
}

function reciprocal(x: Tensor): Tensor {
  const out = Tensor.empty(x.backend, x.shape, x.dtype);
  x.backend.kernels.unary('reciprocal', x.storage, out.storage);
  return out;
}

/** Variance over axes; `unbiased` divides by n−1 (torch.var default) instead of n. */
export function variance(x: Tensor, axes: number | number[], keepdim = false, unbiased = true): Tensor {
  const ax = typeof axes === 'number' ? [axes] : axes;
  const n = ax.reduce((p, a) => p * x.shape[normAxis(a, x.rank)], 1);
  const mu = mean(x, ax, true);
  const d = add(x, affine(mu, -1, 0));
  return affine(sum(mul(d, d), ax, keepdim), 1 / (unbiased ? n - 1 : n), 0);
}

/** Sums a broadcast gradient back to the shape of the operand it came from. */
export function sumToShape(g: Tensor, shape: Shape): Tensor {
  if (shapesEqual(g.shape, shape)) return g;
  const lead = g.rank - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.rank; i++) {
    if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
  }
  const r = reduceRaw('sum', g, axes);
  const out = r.view(shape);
  r.dispose();
  return out;
}

/** Index of the maximum along one axis (int32), no gradient. */
export function argmax(x: Tensor, axis: number): Tensor {
  const ax = normAxis(axis, x.rank);
  const outer = x.shape.slice(0, ax).reduce((p, d) => p * d, 1);
  const inner = x.shape.slice(ax + 1).reduce((p, d) => p * d, 1);
  const out = Tensor.empty(x.backend, [...x.shape.slice(0, ax), ...x.shape.slice(ax + 1)], 'int32');
  x.backend.kernels.argmax(x.storage, out.storage, outer, x.shape[ax], inner);
  return out;
}
