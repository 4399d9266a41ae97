// Softmax and log-softmax over the last axis (fused kernels with their own backward).
import { record, Tensor } from '../engine/tensor';

function rowsCols(x: Tensor): [number, number] {
  const cols = x.shape[x.rank - 1];
  return [x.size / cols, cols];
}

export function softmax(x: Tensor): Tensor {
  const [rows, cols] = rowsCols(x);
  const y = Tensor.empty(x.backend, x.shape, x.dtype);
  x.backend.kernels.softmax(x.storage, y.storage, rows, cols);
  return record(y, 'softmax', [x], (g) => {
    const dx = Tensor.empty(x.backend, x.shape, x.dtype);
    x.backend.kernels.softmaxBackward(y.storage, g.storage, dx.storage, rows, cols);
    return [dx];
  });
}

export function logSoftmax(x: Tensor): Tensor {
  const [rows, cols] = rowsCols(x);
  const y = Tensor.empty(x.backend, x.shape, x.dtype);
  x.backend.kernels.logSoftmax(x.storage, y.storage, rows, cols);
  return record(y, 'logSoftmax', [x], (g) => {
    const dx = Tensor.empty(x.backend, x.shape, x.dtype);
    x.backend.kernels.logSoftmaxBackward(y.storage, g.storage, dx.storage, rows, cols);
    return [dx];
  });
}
