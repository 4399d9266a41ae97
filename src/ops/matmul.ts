// Matrix products: batched matmul with transpose flags (one GEMM call per op), and linear layers.
import type { MatmulAttrs } from '../engine/backend';
import { fmtShape, shapesEqual } from '../engine/shape';
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

/** One plain product C [M, N] = op(A)·op(B) (batch 1, alpha 1, beta 0). */
export const gemm = (M: number, N: number, K: number, transA: boolean, transB: boolean): MatmulAttrs =>
  ({ batch: 1, M, N, K, transA, transB, strideA: 0, strideB: 0, alpha: 1, beta: 0 });

/** The gradients of y = x·Wᵀ (+ b): dx = g·W and dw = gᵀ·x (each only when wanted), db = Σ over rows of g. */
export function linearGrads(g: Tensor, x: Tensor, weight: Tensor, bias: Tensor | null): { dx: Tensor | null; dw: Tensor | null; db: Tensor | null } {
  const be = g.backend, [outF, inF] = weight.shape, rows = x.size / inF;
  const dx = x.requiresGrad ? Tensor.empty(be, x.shape, x.dtype) : null;
  const dw = weight.requiresGrad ? Tensor.empty(be, weight.shape, x.dtype) : null;
  const dxGemm = gemm(rows, inF, outF, false, false); // g [rows, out] · W [out, in]
  const dwGemm = gemm(outF, inF, rows, true, false); // gᵀ [out, rows] · x [rows, in]
  if (dx) be.kernels.matmul(g.storage, weight.storage, dx.storage, dxGemm);
  if (dw) be.kernels.matmul(g.storage, x.storage, dw.storage, dwGemm);
  let db: Tensor | null = null;
  if (bias?.requiresGrad) {
    db = Tensor.empty(be, bias.shape, x.dtype);
    be.kernels.reduce('sum', g.storage, db.storage, 1, rows, outF);
  }
  return { dx, dw, db };
}

/**
 * y = x·Wᵀ + b (+ residual) with W [out, in] (torch.nn.Linear layout); x [..., in], residual shaped like y. One
 * kernel: the bias and the residual are added inside the GEMM's output tiles (the `linear` kernel); the residual's
 * gradient is g itself, as for a separate add.
 */
export function linear(x: Tensor, weight: Tensor, bias: Tensor | null, residual: Tensor | null = null): Tensor {
  const inF = weight.shape[1], outF = weight.shape[0];
  if (x.shape[x.rank - 1] !== inF) throw new Error(`linear: input ${fmtShape(x.shape)} does not end in ${inF} (weight ${fmtShape(weight.shape)})`);
  if (bias && bias.size !== outF) throw new Error(`linear: bias ${fmtShape(bias.shape)} for weight ${fmtShape(weight.shape)}`);
  if (x.dtype !== weight.dtype) throw new Error(`linear: dtype mismatch ${x.dtype} vs ${weight.dtype}`);
  const rows = x.size / inF;
  const shape = [...x.shape.slice(0, -1), outF];
  if (residual && !shapesEqual(residual.shape, shape)) {
    throw new Error(`linear: residual ${fmtShape(residual.shape)} does not match the output ${fmtShape(shape)}`);
  }
  const be = x.backend;
  const y = Tensor.empty(be, shape, x.dtype);
  be.kernels.linear(x.storage, weight.storage, bias?.storage ?? null, residual?.storage ?? null, y.storage, rows, inF, outF);
  const inputs = [x, weight, ...(bias ? [bias] : []), ...(residual ? [residual] : [])];
  return record(y, 'linear', inputs, (g) => {
    const { dx, dw, db } = linearGrads(g, x, weight, bias);
    return [dx, dw, ...(bias ? [db] : []), ...(residual ? [residual.requiresGrad ? g : null] : [])];
  });
}
