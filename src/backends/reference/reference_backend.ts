// The reference backend: host typed arrays and the plain-loop kernels of reference_kernels.ts.
import type { Backend, Storage } from '../../engine/backend';
import { dtypeOfArray, type DType, type HostArray } from '../../engine/dtype';
import { HostPool, host } from './host_storage';
import { referenceKernels } from './reference_kernels';

export { referenceKernels };

export function createReferenceBackend(pool: HostPool = new HostPool()): Backend {
  return {
    name: 'reference',
    alloc: (dtype: DType, size: number) => pool.alloc(dtype, size),
    upload: (data: HostArray) => {
      const s = pool.alloc(dtypeOfArray(data), data.length);
      host(s).set(data);
      return s;
    },
    write: (s: Storage, data: HostArray) => {
      if (data.length !== s.size) throw new Error(`write of ${data.length} values into storage of ${s.size}`);
      host(s).set(data);
    },
    download: (s: Storage) => host(s).slice(),
    free: (s: Storage) => pool.release(s),
    liveBuffers: () => pool.liveCount(),
    kernels: referenceKernels(),
  };
}
