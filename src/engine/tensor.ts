// The Tensor: a shape, a dtype and a reference-counted storage on one backend, plus autograd links.
// Tensors are always contiguous row-major; `reshape` shares storage (a cheap view), everything else copies.
import type { Backend, Storage } from './backend';
import type { DType, HostArray } from './dtype';
import { fmtShape, sizeOf, type Shape } from './shape';
import { isGradEnabled, trackTensor, type Disposable } from './scope';

/** How a tensor was computed: its inputs and the vector-Jacobian product back to each of them. */
export interface GradNode {
  readonly op: string;
  readonly inputs: Tensor[];
  /**
   * Returns one gradient per input (null where the input needs none). `accum(i)`, when not null, is input i's
   * gradient so far from its other consumers, owned by nobody else: the backward may add its contribution into it in
   * place and return that same tensor (saving the engine's separate sum), or ignore it.
   */
  backward(grad: Tensor, accum: (i: number) => Tensor | null): (Tensor | null)[];
}

class SharedStorage {
  refs = 1;
  constructor(readonly backend: Backend, readonly storage: Storage) {}
  release(): void {
    if (--this.refs === 0) this.backend.free(this.storage);
  }
}

let nextId = 0;

export class Tensor implements Disposable {
  readonly id = nextId++;
  readonly shape: number[];
  readonly size: number;
  requiresGrad = false;
  grad: Tensor | null = null;
  node: GradNode | null = null;
  kept = false;
  private shared: SharedStorage | null;

  private constructor(shared: SharedStorage, shape: Shape) {
    this.shape = [...shape];
    this.size = sizeOf(shape);
    if (this.size !== shared.storage.size) {
      throw new Error(`shape ${fmtShape(shape)} has ${this.size} elements but storage has ${shared.storage.size}`);
    }
    this.shared = shared;
    trackTensor(this);
  }

  /** Wraps freshly allocated storage (the tensor takes ownership). */
  static fromStorage(backend: Backend, storage: Storage, shape: Shape): Tensor {
    return new Tensor(new SharedStorage(backend, storage), shape);
  }

  static fromArray(backend: Backend, data: HostArray, shape: Shape = [data.length]): Tensor {
    return Tensor.fromStorage(backend, backend.upload(data), shape);
  }

  /** New storage of this size with unspecified contents, on the same backend. */
  static empty(backend: Backend, shape: Shape, dtype: DType = 'float32'): Tensor {
    return Tensor.fromStorage(backend, backend.alloc(dtype, sizeOf(shape)), shape);
  }

  get backend(): Backend {
    return this.live().backend;
  }
  get storage(): Storage {
    return this.live().storage;
  }
  get dtype(): DType {
    return this.live().storage.dtype;
  }
  get rank(): number {
    return this.shape.length;
  }
  get isDisposed(): boolean {
    return this.shared === null;
  }
  /** True when no other tensor (view) shares this tensor's storage, so writing into it in place is invisible elsewhere. */
  get ownsStorageAlone(): boolean {
    return this.live().refs === 1;
  }

  /** A tensor of another shape over the same storage. */
  view(shape: Shape): Tensor {
    const s = this.live();
    s.refs++;
    return new Tensor(s, shape);
  }

  /** Reads the values into a new host array (a device backend copies here). */
  toArray(): HostArray {
    return this.backend.download(this.storage);
  }

  toFloat32Array(): Float32Array {
    const a = this.toArray();
    return a instanceof Float32Array ? a : Float32Array.from(a);
  }

  /** Overwrites the values in place (loading weights); keeps identity, so optimizer references stay valid. */
  assign(data: HostArray): void {
    this.backend.write(this.storage, data);
  }

  item(): number {
    if (this.size !== 1) throw new Error(`item() needs a single element, tensor has shape ${fmtShape(this.shape)}`);
    return this.toArray()[0];
  }

  dispose(): void {
    if (this.shared) {
      this.shared.release();
      this.shared = null;
    }
    this.node = null;
  }

  toString(): string {
    return `Tensor(${fmtShape(this.shape)}, ${this.isDisposed ? 'disposed' : this.dtype})`;
  }

  private live(): SharedStorage {
    if (!this.shared) throw new Error(`use of a disposed tensor (id ${this.id}, shape ${fmtShape(this.shape)})`);
    return this.shared;
  }
}

/** Attaches an autograd node to `out` if gradients are being recorded and any input needs one. */
export function record(out: Tensor, op: string, inputs: Tensor[],
  backward: (g: Tensor, accum: (i: number) => Tensor | null) => (Tensor | null)[]): Tensor {
  if (isGradEnabled() && inputs.some((t) => t.requiresGrad)) {
    out.requiresGrad = true;
    out.node = { op, inputs, backward };
  }
  return out;
}
