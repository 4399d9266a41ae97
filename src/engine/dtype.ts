// Element types the engine knows. float64 exists for gradient checks on the reference backend;
// integer tensors (indices, masks) are int32 in memory and written as int64 where a file format needs it.
export type DType = 'float32' | 'float64' | 'int32';

export type HostArray = Float32Array | Float64Array | Int32Array;

export function allocHostArray(dtype: DType, size: number): HostArray {
  switch (dtype) {
    case 'float32': return new Float32Array(size);
    case 'float64': return new Float64Array(size);
    case 'int32': return new Int32Array(size);
  }
}

export function dtypeOfArray(a: HostArray): DType {
  if (a instanceof Float32Array) return 'float32';
  if (a instanceof Float64Array) return 'float64';
  return 'int32';
}

export function isFloat(dtype: DType): boolean {
  return dtype !== 'int32';
}
