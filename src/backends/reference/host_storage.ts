// Storage that lives in JS-visible memory (typed arrays). Shared by the reference and the native CPU
// backends, so the CPU backend can hand any kernel it does not implement natively to the reference one.
import type { Storage } from '../../engine/backend';
import { allocHostArray, dtypeOfArray, type DType, type HostArray } from '../../engine/dtype';

export class HostStorage implements Storage {
  constructor(readonly data: HostArray) {}
  get dtype(): DType {
    return dtypeOfArray(this.data);
  }
  get size(): number {
    return this.data.length;
  }
}

export function host(s: Storage): HostArray {
  return (s as HostStorage).data;
}

/**
 * Reuses freed typed arrays of the same dtype and length: a training step allocates the same sizes every
 * iteration, so after the first step nothing new is allocated and the GC has nothing to chase.
 */
export class HostPool {
  private free = new Map<string, HostArray[]>();
  private live = 0;
  private pooledBytes = 0;
  constructor(private readonly maxPooledBytes = 8 * 1024 ** 3) {}

  alloc(dtype: DType, size: number): HostStorage {
    this.live++;
    const list = this.free.get(dtype + ':' + size);
    const reused = list?.pop();
    if (reused) {
      this.pooledBytes -= reused.byteLength;
      return new HostStorage(reused);
    }
    return new HostStorage(allocHostArray(dtype, size));
  }

  adopt(data: HostArray): HostStorage {
    this.live++;
    return new HostStorage(data);
  }

  release(s: Storage): void {
    this.live--;
    const data = host(s);
    if (this.pooledBytes + data.byteLength > this.maxPooledBytes) return;
    const key = dtypeOfArray(data) + ':' + data.length;
    let list = this.free.get(key);
    if (!list) this.free.set(key, (list = []));
    list.push(data);
    this.pooledBytes += data.byteLength;
  }

  liveCount(): number {
    return this.live;
  }

  /** Drops pooled arrays (for example between phases with different shapes). */
  trim(): void {
    this.free.clear();
    this.pooledBytes = 0;
  }
}
