// Shape arithmetic shared by the engine and the backends: sizes, strides, broadcasting, axis normalisation.

export type Shape = readonly number[];

export function sizeOf(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Row-major (C-contiguous) strides in elements. */
export function contiguousStrides(shape: Shape): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

export function normAxis(axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) throw new Error(`axis ${axis} out of range for rank ${rank}`);
  return a;
}

export function shapesEqual(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function fmtShape(s: Shape): string {
  return `[${s.join(', ')}]`;
}

/** NumPy broadcasting of two shapes. */
export function broadcastShapes(a: Shape, b: Shape): number[] {
  const n = Math.max(a.length, b.length);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new Error(`shapes ${fmtShape(a)} and ${fmtShape(b)} do not broadcast`);
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/** Strides that read a tensor of shape `from` as if it had shape `to` (0 on broadcast axes). */
export function broadcastStrides(from: Shape, to: Shape): number[] {
  const cs = contiguousStrides(from);
  const out = new Array<number>(to.length).fill(0);
  const off = to.length - from.length;
  for (let i = 0; i < from.length; i++) out[off + i] = from[i] === 1 ? 0 : cs[i];
  return out;
}

/**
 * Merges adjacent axes that are contiguous with each other in the output and in every input,
 * so kernels iterate over as few (and as long) inner loops as possible.
 */
export function collapseAxes(shape: Shape, stridesList: number[][]): { shape: number[]; strides: number[][] } {
  const outShape: number[] = [];
  const outStrides: number[][] = stridesList.map(() => []);
  for (let i = 0; i < shape.length; i++) {
    if (shape[i] === 1) continue;
    const last = outShape.length - 1;
    const canMerge = last >= 0 && stridesList.every((s, k) => outStrides[k][last] === s[i] * shape[i]);
    if (canMerge) {
      outShape[last] *= shape[i];
      stridesList.forEach((s, k) => (outStrides[k][last] = s[i]));
    } else {
      outShape.push(shape[i]);
      stridesList.forEach((s, k) => outStrides[k].push(s[i]));
    }
  }
  if (outShape.length === 0) return { shape: [1], strides: stridesList.map(() => [0]) };
  return { shape: outShape, strides: outStrides };
}
