// Shape and layout: reshape (a view), permute/transpose, slicing, concatenation, padding, broadcasting.
// All but reshape materialise a contiguous copy through the strided-copy kernel.
import { broadcastStrides, collapseAxes, contiguousStrides, fmtShape, normAxis, shapesEqual, sizeOf, type Shape } from '../engine/shape';
import { record, Tensor } from '../engine/tensor';
import { zeros } from './creation';
import { sumToShape } from './reduce';

function copyStrided(x: Tensor, offset: number, strides: number[], shape: Shape): Tensor {
  const out = Tensor.empty(x.backend, shape, x.dtype);
  const c = collapseAxes(shape, [strides, contiguousStrides(shape)]);
  x.backend.kernels.stridedCopy(x.storage, offset, c.strides[0], out.storage, c.shape);
  return out;
}

/** Adds `src` (contiguous) into `dst` at the strided window (offset, strides, src.shape). */
function accumulateStrided(src: Tensor, dst: Tensor, offset: number, strides: number[]): void {
  const c = collapseAxes(src.shape, [strides, contiguousStrides(src.shape)]);
  src.backend.kernels.stridedAccumulate(src.storage, dst.storage, offset, c.strides[0], c.shape);
}

export function reshape(x: Tensor, shape: Shape): Tensor {
  const target = [...shape];
  const infer = target.indexOf(-1);
  if (infer >= 0) {
    const known = target.reduce((p, d, i) => (i === infer ? p : p * d), 1);
    target[infer] = x.size / known;
  }
  if (sizeOf(target) !== x.size) throw new Error(`cannot reshape ${fmtShape(x.shape)} to ${fmtShape(shape)}`);
  const out = x.view(target);
  return record(out, 'reshape', [x], (g) => [g.view(x.shape)]);
}

export function permute(x: Tensor, perm: number[]): Tensor {
  if (perm.length !== x.rank) throw new Error(`permute ${perm} for rank ${x.rank}`);
  const p = perm.map((a) => normAxis(a, x.rank));
  if (p.every((a, i) => a === i)) return reshape(x, x.shape);
  const inStrides = contiguousStrides(x.shape);
  const shape = p.map((a) => x.shape[a]);
  const out = copyStrided(x, 0, p.map((a) => inStrides[a]), shape);
  const inverse = new Array<number>(p.length);
  p.forEach((a, i) => (inverse[a] = i));
  return record(out, 'permute', [x], (g) => [permute(g, inverse)]);
}

export function transpose(x: Tensor, a: number, b: number): Tensor {
  const perm = x.shape.map((_, i) => i);
  const i = normAxis(a, x.rank), j = normAxis(b, x.rank);
  [perm[i], perm[j]] = [perm[j], perm[i]];
  return permute(x, perm);
}

/** x[..., start:end, ...] along one axis (end exclusive), step 1 or more. */
export function slice(x: Tensor, axis: number, start: number, end: number, step = 1): Tensor {
  const ax = normAxis(axis, x.rank);
  if (start < 0 || end > x.shape[ax] || start > end) throw new Error(`slice [${start}, ${end}) out of range for axis ${ax} of ${fmtShape(x.shape)}`);
  const strides = contiguousStrides(x.shape);
  const shape = [...x.shape];
  shape[ax] = Math.ceil((end - start) / step);
  const sliceStrides = [...strides];
  sliceStrides[ax] = strides[ax] * step;
  const offset = start * strides[ax];
  const out = copyStrided(x, offset, sliceStrides, shape);
  return record(out, 'slice', [x], (g) => {
    const dx = zeros(x.backend, x.shape, x.dtype);
    accumulateStrided(g, dx, offset, sliceStrides);
    return [dx];
  });
}

export function concat(xs: Tensor[], axis: number): Tensor {
  if (xs.length === 0) throw new Error('concat of no tensors');
  const ax = normAxis(axis, xs[0].rank);
  const shape = [...xs[0].shape];
  shape[ax] = xs.reduce((p, t) => {
    if (t.rank !== shape.length || t.shape.some((d, i) => i !== ax && d !== shape[i])) {
      throw new Error(`concat: ${fmtShape(t.shape)} does not match ${fmtShape(xs[0].shape)} outside axis ${ax}`);
    }
    return p + t.shape[ax];
  }, 0);
  const out = zeros(xs[0].backend, shape, xs[0].dtype);
  const outStrides = contiguousStrides(shape);
  const offsets: number[] = [];
  let pos = 0;
  for (const t of xs) {
    offsets.push(pos * outStrides[ax]);
    accumulateStrided(t, out, pos * outStrides[ax], outStrides);
    pos += t.shape[ax];
  }
  return record(out, 'concat', xs, (g) =>
    xs.map((t, i) => (t.requiresGrad ? copyStrided(g, offsets[i], outStrides, t.shape) : null)),
  );
}

export function stack(xs: Tensor[], axis: number): Tensor {
  const ax = axis < 0 ? axis + xs[0].rank + 1 : axis;
  return concat(xs.map((t) => reshape(t, [...t.shape.slice(0, ax), 1, ...t.shape.slice(ax)])), ax);
}

export function split(x: Tensor, sizes: number[], axis: number): Tensor[] {
  const ax = normAxis(axis, x.rank);
  let pos = 0;
  return sizes.map((s) => {
    const t = slice(x, ax, pos, pos + s);
    pos += s;
    return t;
  });
}

/** Zero padding: pads[i] = [before, after] for axis i (missing trailing entries mean no padding). */
export function pad(x: Tensor, pads: Array<[number, number]>): Tensor {
  const shape = x.shape.map((d, i) => d + (pads[i]?.[0] ?? 0) + (pads[i]?.[1] ?? 0));
  const out = zeros(x.backend, shape, x.dtype);
  const outStrides = contiguousStrides(shape);
  const offset = x.shape.reduce((p, _, i) => p + (pads[i]?.[0] ?? 0) * outStrides[i], 0);
  accumulateStrided(x, out, offset, outStrides);
  return record(out, 'pad', [x], (g) => [copyStrided(g, offset, outStrides, x.shape)]);
}

/** Materialises x broadcast to `shape`. */
export function broadcastTo(x: Tensor, shape: Shape): Tensor {
  if (shapesEqual(x.shape, shape)) return x;
  const out = copyStrided(x, 0, broadcastStrides(x.shape, shape), shape);
  return record(out, 'broadcastTo', [x], (g) => [sumToShape(g, x.shape)]);
}

export function unsqueeze(x: Tensor, axis: number): Tensor {
  const ax = axis < 0 ? axis + x.rank + 1 : axis;
  return reshape(x, [...x.shape.slice(0, ax), 1, ...x.shape.slice(ax)]);
}

export function flatten(x: Tensor, from = 0, to = x.rank - 1): Tensor {
  const f = normAxis(from, x.rank), t = normAxis(to, x.rank);
  const merged = x.shape.slice(f, t + 1).reduce((p, d) => p * d, 1);
  return reshape(x, [...x.shape.slice(0, f), merged, ...x.shape.slice(t + 1)]);
}
