// Module: fields named with the upstream state_dict keys, so the state dict is a walk over the fields
// (torch order: the module's own parameters, then its buffers, then child modules; arrays are ModuleLists).
import { Tensor } from '../engine/tensor';

type Child = Module | Tensor | null | undefined | Child[];

export abstract class Module {
  training = true;
  /** Names of tensor fields that are buffers (saved, never trained), e.g. relative_position_index. */
  protected _buffers = new Set<string>();

  private fieldEntries(): [string, unknown][] {
    return Object.entries(this).filter(([k]) => !k.startsWith('_') && k !== 'training');
  }

  /** Every tensor in state-dict order with its dotted name (parameters, frozen parameters and buffers). */
  namedTensors(prefix = ''): [string, Tensor][] {
    const params: [string, Tensor][] = [];
    const buffers: [string, Tensor][] = [];
    const children: [string, Tensor][] = [];
    const visit = (name: string, v: Child): void => {
      if (v == null) return;
      if (v instanceof Tensor) {
        (this._buffers.has(name.slice(prefix.length)) ? buffers : params).push([name, v]);
      } else if (v instanceof Module) {
        children.push(...v.namedTensors(name + '.'));
      } else if (Array.isArray(v)) {
        v.forEach((c, i) => visitChild(`${name}.${i}`, c));
      }
    };
    const visitChild = (name: string, v: Child): void => {
      if (v instanceof Tensor) params.push([name, v]);
      else if (v instanceof Module) children.push(...v.namedTensors(name + '.'));
      else if (Array.isArray(v)) v.forEach((c, i) => visitChild(`${name}.${i}`, c));
    };
    for (const [k, v] of this.fieldEntries()) visit(prefix + k, v as Child);
    return [...params, ...buffers, ...children];
  }

  /** Trainable parameters (requiresGrad) in state-dict order. */
  namedParameters(): [string, Tensor][] {
    return this.namedTensors().filter(([, t]) => t.requiresGrad);
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, t]) => t);
  }

  stateDict(): Map<string, Tensor> {
    return new Map(this.namedTensors());
  }

  modules(): Module[] {
    const out: Module[] = [this];
    const visit = (v: unknown): void => {
      if (v instanceof Module) out.push(...v.modules());
      else if (Array.isArray(v)) v.forEach(visit);
    };
    for (const [, v] of this.fieldEntries()) visit(v);
    return out;
  }

  train(mode = true): this {
    for (const m of this.modules()) m.training = mode;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  parameterCount(): number {
    return this.namedTensors().reduce((p, [n, t]) => p + (this.isBufferName(n) ? 0 : t.size), 0);
  }

  /** True if the dotted name refers to a buffer of some submodule. */
  isBufferName(name: string): boolean {
    const parts = name.split('.');
    let m: unknown = this;
    for (let i = 0; i < parts.length - 1; i++) {
      m = m instanceof Module ? (m as unknown as Record<string, unknown>)[parts[i]] : Array.isArray(m) ? m[Number(parts[i])] : undefined;
    }
    return m instanceof Module && m._buffers.has(parts[parts.length - 1]);
  }

  /** Frees every tensor of the module (for models that are built and dropped, e.g. in tests). */
  dispose(): void {
    for (const [, t] of this.namedTensors()) t.dispose();
  }
}
