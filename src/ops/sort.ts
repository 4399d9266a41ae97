// Sorting on the host: argsort and top-k are index computations (masking, evaluation), never differentiated.
import { Tensor } from '../engine/tensor';
import { tensor } from './creation';

/** Ascending argsort of each row of the last axis; ties keep their original order. */
export function argsort(x: Tensor, descending = false): Tensor {
  const v = x.toArray();
  const cols = x.shape[x.rank - 1];
  const out = new Int32Array(x.size);
  const idx = new Array<number>(cols);
  for (let r = 0; r < x.size / cols; r++) {
    for (let i = 0; i < cols; i++) idx[i] = i;
    const o = r * cols;
    idx.sort((a, b) => (descending ? v[o + b] - v[o + a] : v[o + a] - v[o + b]) || a - b);
    for (let i = 0; i < cols; i++) out[o + i] = idx[i];
  }
  return tensor(x.backend, out, x.shape);
}

/** The k largest values of each row and their indices. */
export function topk(x: Tensor, k: number): { values: Float32Array; indices: Int32Array } {
  const v = x.toArray();
  const cols = x.shape[x.rank - 1], rows = x.size / cols;
  const values = new Float32Array(rows * k), indices = new Int32Array(rows * k);
  const idx = new Array<number>(cols);
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < cols; i++) idx[i] = i;
    const o = r * cols;
    idx.sort((a, b) => v[o + b] - v[o + a] || a - b);
    for (let i = 0; i < k; i++) {
      values[r * k + i] = v[o + idx[i]];
      indices[r * k + i] = idx[i];
    }
  }
  return { values, indices };
}
