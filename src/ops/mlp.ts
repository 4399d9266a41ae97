// The transformer MLP, fc2(GELU(fc1(x))), as one fused op (timm Mlp with exact GELU). Against the composite
// linear → gelu → linear it saves activation memory: the GELU output (the largest activation of a block) is not
// kept for the backward pass but recomputed there from the pre-activation, one extra GELU pass for 4·C floats per
// token less memory, as activation checkpointing does. Without autograd the GELU is applied inside fc1's GEMM.
// Biases and the block's residual are added in the GEMMs (the `linear` kernel); the GELU backward, the recomputed
// GELU and fc1's bias gradient are one pass (geluBackward).
import { isGradEnabled } from '../engine/scope';
import { fmtShape, shapesEqual } from '../engine/shape';
import { record, Tensor } from '../engine/tensor';
import { gemm, linearGrads } from './matmul';

/** out [rows, outF] = a [rows, inF] · wᵀ + bias (+ residual), the bias and residual added in the GEMM's tiles. */
function affineRows(a: Tensor, w: Tensor, bias: Tensor | null, out: Tensor, rows: number, residual: Tensor | null = null): void {
  const [outF, inF] = w.shape;
  a.backend.kernels.linear(a.storage, w.storage, bias?.storage ?? null, residual?.storage ?? null, out.storage, rows, inF, outF);
}

/** Rows per block of the inference path: the hidden activations of one block stay a few MiB. */
const INFER_ROWS = 4096;

/**
 * Inference (no autograd): GELU applied inside fc1's GEMM, and over row blocks so the [rows, hidden] activation,
 * the largest tensor of the network (4× the tokens' width), exists for one block of rows at a time; fc2 writes each
 * block's rows of the output, adding the residual there.
 */
function mlpInfer(x: Tensor, w1: Tensor, b1: Tensor | null, w2: Tensor, b2: Tensor | null, residual: Tensor | null): Tensor {
  const be = x.backend, [hid, inF] = w1.shape, outF = w2.shape[0], rows = x.size / inF;
  const y = Tensor.empty(be, [...x.shape.slice(0, -1), outF], x.dtype);
  const h = Tensor.empty(be, [Math.min(rows, INFER_ROWS), hid], x.dtype);
  for (let r0 = 0; r0 < rows; r0 += INFER_ROWS) {
    const m = Math.min(INFER_ROWS, rows - r0);
    be.kernels.linear(x.storage, w1.storage, b1?.storage ?? null, null, h.storage, m, inF, hid, { activation: 'gelu', xOffset: r0 * inF });
    be.kernels.linear(h.storage, w2.storage, b2?.storage ?? null, residual?.storage ?? null, y.storage, m, hid, outF, { outOffset: r0 * outF });
  }
  h.dispose();
  return y;
}

/**
 * x [..., in] → [..., out]: fc2(gelu(fc1(x))) (+ residual, shaped like the output, added inside fc2's GEMM) with
 * torch.nn.Linear weight layouts w1 [hidden, in], w2 [out, hidden].
 */
export function mlp(x: Tensor, w1: Tensor, b1: Tensor | null, w2: Tensor, b2: Tensor | null, residual: Tensor | null = null): Tensor {
  const [hid, inF] = w1.shape, outF = w2.shape[0];
  if (x.shape[x.rank - 1] !== inF || w2.shape[1] !== hid) {
    throw new Error(`mlp: input ${fmtShape(x.shape)} with fc1 ${fmtShape(w1.shape)} and fc2 ${fmtShape(w2.shape)}`);
  }
  const be = x.backend, rows = x.size / inF;
  const outShape = [...x.shape.slice(0, -1), outF];
  if (residual && !shapesEqual(residual.shape, outShape)) {
    throw new Error(`mlp: residual ${fmtShape(residual.shape)} does not match the output ${fmtShape(outShape)}`);
  }
  const inputs = [x, w1, ...(b1 ? [b1] : []), w2, ...(b2 ? [b2] : []), ...(residual ? [residual] : [])];
  const grad = isGradEnabled() && inputs.some((t) => t.requiresGrad);
  if (!grad) return mlpInfer(x, w1, b1, w2, b2, residual);
  const h = Tensor.empty(be, [rows, hid], x.dtype); // fc1 pre-activation, kept for the backward pass
  affineRows(x, w1, b1, h, rows);
  const a = Tensor.empty(be, [rows, hid], x.dtype);
  be.kernels.unary('gelu', h.storage, a.storage);
  const y = Tensor.empty(be, outShape, x.dtype);
  affineRows(a, w2, b2, y, rows, residual);
  a.dispose(); // recomputed in the backward pass
  return record(y, 'mlp', inputs, (g) => {
    const dh = Tensor.empty(be, [rows, hid], x.dtype); // g · w2, then · gelu'(h) in place
    be.kernels.matmul(g.storage, w2.storage, dh.storage, gemm(rows, hid, outF, false, false));
    const act = Tensor.empty(be, [rows, hid], x.dtype); // gelu(h) again, from the same pass
    const db1 = b1?.requiresGrad ? Tensor.empty(be, b1.shape, x.dtype) : null; // Σ_rows dh, from the same pass too
    be.kernels.geluBackward(h.storage, dh.storage, dh.storage, act.storage, db1?.storage ?? null);
    const fc2 = linearGrads(g, act, w2, b2); // dw2 = gᵀ·gelu(h), db2 (act needs no gradient)
    act.dispose();
    const fc1 = linearGrads(dh, x, w1, null); // dx = dh·w1, dw1 = dhᵀ·x
    dh.dispose();
    return [fc1.dx, fc1.dw, ...(b1 ? [db1] : []), fc2.dw, ...(b2 ? [fc2.db] : []), ...(residual ? [residual.requiresGrad ? g : null] : [])];
  });
}
