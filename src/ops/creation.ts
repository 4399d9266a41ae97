// Creating tensors on a backend: constants, copies of host data, and parameters.
import type { Backend } from '../engine/backend';
import { allocHostArray, type DType, type HostArray } from '../engine/dtype';
import { sizeOf, type Shape } from '../engine/shape';
import { Tensor } from '../engine/tensor';

export function tensor(backend: Backend, data: HostArray | number[], shape?: Shape, dtype: DType = 'float32'): Tensor {
  const arr = Array.isArray(data) ? (allocHostArray(dtype, data.length).map((_, i) => data[i]) as HostArray) : data;
  return Tensor.fromArray(backend, arr, shape ?? [arr.length]);
}

export function full(backend: Backend, shape: Shape, value: number, dtype: DType = 'float32'): Tensor {
  const t = Tensor.empty(backend, shape, dtype);
  backend.kernels.fill(t.storage, value);
  return t;
}

export function zeros(backend: Backend, shape: Shape, dtype: DType = 'float32'): Tensor {
  return full(backend, shape, 0, dtype);
}

export function ones(backend: Backend, shape: Shape, dtype: DType = 'float32'): Tensor {
  return full(backend, shape, 1, dtype);
}

export function scalar(backend: Backend, value: number, dtype: DType = 'float32'): Tensor {
  return full(backend, [], value, dtype);
}

export function zerosLike(t: Tensor): Tensor {
  return zeros(t.backend, t.shape, t.dtype);
}

export function arange(backend: Backend, n: number, dtype: DType = 'int32'): Tensor {
  const a = allocHostArray(dtype, n);
  for (let i = 0; i < n; i++) a[i] = i;
  return Tensor.fromArray(backend, a, [n]);
}

/** Copies a tensor's values to another backend (or dtype). */
export function toBackend(t: Tensor, backend: Backend, dtype: DType = t.dtype): Tensor {
  let data = t.toArray();
  if (data.length !== sizeOf(t.shape)) throw new Error('size mismatch');
  if (dtype !== t.dtype) {
    const conv = allocHostArray(dtype, data.length);
    conv.set(data as never);
    data = conv;
  }
  return Tensor.fromArray(backend, data, t.shape);
}

/** A trainable leaf tensor that survives scopes. */
export function parameter(t: Tensor): Tensor {
  t.requiresGrad = true;
  t.kept = true;
  return t;
}
