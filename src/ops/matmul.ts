// Matrix products: batched matmul with transpose flags (one GEMM call per op), and linear layers.
import type { MatmulAttrs } from '../engine/backend';
import { fmtShape } from '../engine/shape';
import { record, Tensor } from '../engine/tensor';
import { sumToShape } from './reduce';

function matmulRaw(a: Tensor, b: Tensor, transA: boolean, transB: boolean): Tensor {
  if (a.rank < 2 || b.rank < 2) throw new Error(`matmul needs rank ≥ 2, got ${fmtShape(a.shape)} and ${fmtShape(b.shape)}`);
  const [ar, ac] = a.shape.slice(-2);
  const [br, bc] = b.shape.slice(-2);
  const M = transA ? ac : ar, K = transA ? ar : ac;
  const Kb = transB ? bc : br, N = transB ? br : bc;
  if (K !== Kb) throw new Error(`matmul inner dimensions differ: ${fmtShape(a.shape)}${transA ? 'ᵀ' : ''} · ${fmtShape(b.shape)}${transB ? 'ᵀ' : ''}`);
  const batchA = a.shape.slice(0, -2), batchB = b.shape.slice(0, -2);
  let batchShape: number[];
  if (batchA.length === 0) batchShape = batchB;
  else if (batchB.length === 0) batchShape = batchA;
  else if (batchA.length === batchB.length && batchA.every((d, i) => d === batchB[i])) batchShape = batchA;
  else throw new Error(`matmul batch dimensions differ: ${fmtShape(a.shape)} vs ${fmtShape(b.shape)}`);
  const batch = batchShape.reduce((p, d) => p * d, 1);
  const out = Tensor.empty(a.backend, [...batchShape, M, N], a.dtype);
  const attrs: MatmulAttrs = {
    batch, M, N, K, transA, transB,
    strideA: batchA.length === 0 ? 0 : M * K,
    strideB: batchB.length === 0 ? 0 : K * N,
    alpha: 1, beta: 0,
  };
  a.backend.kernels.matmul(a.storage, b.storage, out.storage, attrs);
  return out;
}

/** op(a)·op(b) over the last two axes; leading (batch) axes must match or be absent on one side. */
export function matmul(a: Tensor, b: Tensor, transA = false, transB = false): Tensor {
  const out = matmulRaw(a, b, transA, transB);
  return record(out, 'matmul', [a, b], (g) => [
    a.requiresGrad
      ? sumToShape(transA ? matmulRaw(b, g, transB, true) : matmulRaw(g, b, false, !transB), a.shape)
      : null,
    b.requiresGrad
      ? sumToShape(transB ? matmulRaw(g, a, true, transA) : matmulRaw(a, g, !transA, false), b.shape)
      : null,
  ]);
}

/**
 * y = x·Wᵀ + b with W [out, in] (torch.nn.Linear layout); x [..., in]. One GEMM: the bias is broadcast into the
 * output first and the GEMM accumulates onto it (beta 1), as torch's addmm; the bias gradient is a column sum.
 */
export function linear(x: Tensor, weight: Tensor, bias: Tensor | null): Tensor {
  const inF = weight.shape[1], outF = weight.shape[0];
  if (x.shape[x.rank - 1] !== inF) throw new Error(`linear: input ${fmtShape(x.shape)} does not end in ${inF} (weight ${fmtShape(weight.shape)})`);
  if (bias && bias.size !== outF) throw new Error(`linear: bias ${fmtShape(bias.shape)} for weight ${fmtShape(weight.shape)}`);
  if (x.dtype !== weight.dtype) throw new Error(`linear: dtype mismatch ${x.dtype} vs ${weight.dtype}`);
  const rows = x.size / inF;
  const be = x.backend;
  const y = Tensor.empty(be, [...x.shape.slice(0, -1), outF], x.dtype);
  if (bias) be.kernels.stridedCopy(bias.storage, 0, [0, 1], y.storage, [rows, outF]);
  const gemm = (M: number, N: number, K: number, transA: boolean, transB: boolean, beta = 0): MatmulAttrs =>
    ({ batch: 1, M, N, K, transA, transB, strideA: 0, strideB: 0, alpha: 1, beta });
  be.kernels.matmul(x.storage, weight.storage, y.storage, gemm(rows, outF, inF, false, true, bias ? 1 : 0));
  return record(y, 'linear', bias ? [x, weight, bias] : [x, weight], (g) => {
    let dx: Tensor | null = null, dw: Tensor | null = null, db: Tensor | null = null;
    if (x.requiresGrad) {
      dx = Tensor.empty(be, x.shape, x.dtype); // g [rows, out] · W [out, in]
      be.kernels.matmul(g.storage, weight.storage, dx.storage, gemm(rows, inF, outF, false, false));
    }
    if (weight.requiresGrad) {
      dw = Tensor.empty(be, weight.shape, x.dtype); // gᵀ [out, rows] · x [rows, in]
      be.kernels.matmul(g.storage, x.storage, dw.storage, gemm(outF, inF, rows, true, false));
    }
    if (bias?.requiresGrad) {
      db = Tensor.empty(be, bias.shape, x.dtype); // Σ over rows of g
      be.kernels.reduce('sum', g.storage, db.storage, 1, rows, outF);
    }
    return bias ? [dx, dw, db] : [dx, dw];
  });
}
