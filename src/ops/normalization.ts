// Layer normalisation over the last axis (biased variance, as torch.nn.LayerNorm), with or without affine.
import { record, Tensor } from '../engine/tensor';
import { fmtShape } from '../engine/shape';

export function layerNorm(x: Tensor, weight: Tensor | null, bias: Tensor | null, eps: number): Tensor {
  const cols = x.shape[x.rank - 1];
  const rows = x.size / cols;
  if (weight && weight.size !== cols) throw new Error(`layerNorm: weight ${fmtShape(weight.shape)} for input ${fmtShape(x.shape)}`);
  const y = Tensor.empty(x.backend, x.shape, x.dtype);
  const mean = Tensor.empty(x.backend, [rows], x.dtype);
  const rstd = Tensor.empty(x.backend, [rows], x.dtype);
  x.backend.kernels.layerNorm(x.storage, weight?.storage ?? null, bias?.storage ?? null, y.storage, mean.storage, rstd.storage, rows, cols, eps);
  const inputs = [x, ...(weight ? [weight] : []), ...(bias ? [bias] : [])];
  const out = record(y, 'layerNorm', inputs, (g, accum) => {
    // x's gradient from its other consumer (the residual branch of a pre-norm block) is added in the same pass
    const into = accum(0);
    const dx = into ?? Tensor.empty(x.backend, x.shape, x.dtype);
    const dw = weight?.requiresGrad ? Tensor.empty(x.backend, weight.shape, x.dtype) : null;
    const db = bias?.requiresGrad ? Tensor.empty(x.backend, bias.shape, x.dtype) : null;
    x.backend.kernels.layerNormBackward(g.storage, x.storage, weight?.storage ?? null, mean.storage, rstd.storage,
      dx.storage, dw?.storage ?? null, db?.storage ?? null, rows, cols, into !== null);
    return [dx, ...(weight ? [dw] : []), ...(bias ? [db] : [])];
  });
  if (!out.node) {
    mean.dispose();
    rstd.dispose();
  }
  return out;
}
