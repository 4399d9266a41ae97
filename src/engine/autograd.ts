// Reverse-mode differentiation over the graph recorded by `record` (tensor.ts).
// Gradients of intermediate tensors are freed as soon as they have been propagated, so peak memory is the
// activations plus a frontier of gradients, not every gradient of the step.
import { noGrad, keep } from './scope';
import { Tensor } from './tensor';
import { allocHostArray } from './dtype';
import { contiguousStrides, fmtShape, shapesEqual } from './shape';

function topoOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const visited = new Set<number>();
  const stack: Array<[Tensor, number]> = [[root, 0]];
  visited.add(root.id);
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    const [t, i] = top;
    const inputs = t.node ? t.node.inputs : [];
    if (i < inputs.length) {
      top[1]++;
      const child = inputs[i];
      if (child.requiresGrad && !visited.has(child.id)) {
        visited.add(child.id);
        stack.push([child, 0]);
      }
    } else {
      stack.pop();
      order.push(t);
    }
  }
  return order; // inputs before outputs
}

function addInto(acc: Tensor, g: Tensor): void {
  const s = contiguousStrides(acc.shape);
  acc.backend.kernels.binary('add', acc.storage, s, g.storage, s, acc.storage, acc.shape);
}

function sumOf(a: Tensor, b: Tensor): Tensor {
  const out = Tensor.empty(a.backend, a.shape, a.dtype);
  const s = contiguousStrides(a.shape);
  a.backend.kernels.binary('add', a.storage, s, b.storage, s, out.storage, a.shape);
  return out;
}

/**
 * Accumulates d(root)/d(leaf) into `leaf.grad` for every leaf with requiresGrad reachable from root.
 * `grad` defaults to 1 for a single-element root.
 */
export function backward(root: Tensor, grad?: Tensor): void {
  if (!root.requiresGrad) throw new Error('backward() on a tensor that does not require grad');
  if (!grad && root.size !== 1) throw new Error(`backward() without a gradient needs a scalar, got ${fmtShape(root.shape)}`);
  const seedTyped = grad ?? Tensor.fromArray(root.backend, allocHostArray(root.dtype, 1).fill(1), root.shape);
  noGrad(() => {
    const order = topoOrder(root);
    const grads = new Map<number, Tensor>();
    const holders = new Map<Tensor, number>();
    const acquire = (t: Tensor) => holders.set(t, (holders.get(t) ?? 0) + 1);
    const release = (t: Tensor) => {
      const n = (holders.get(t) ?? 0) - 1;
      holders.set(t, n);
      if (n <= 0 && t !== seedTyped) {
        holders.delete(t);
        t.dispose();
      }
    };
    grads.set(root.id, seedTyped);
    acquire(seedTyped);
    for (let k = order.length - 1; k >= 0; k--) {
      const t = order[k];
      const g = grads.get(t.id);
      if (!g) continue;
      grads.delete(t.id);
      if (!t.node) {
        accumulateLeaf(t, g, holders, seedTyped);
        continue;
      }
      const inputs = t.node.inputs;
      // Input i's gradient so far, where the backward may add into it in place: held by this input's entry alone, its
      // storage shared with no view, and the input appearing once among the node's inputs. Looked up only by the
      // backwards that ask (layer norm), not for every node.
      const accum = (i: number): Tensor | null => {
        const input = inputs[i];
        const e = grads.get(input.id);
        const alone = e && e !== seedTyped && holders.get(e) === 1 && e.ownsStorageAlone;
        return alone && inputs.indexOf(input) === i && inputs.lastIndexOf(input) === i ? e : null;
      };
      const gs = t.node.backward(g, accum);
      inputs.forEach((input, i) => {
        const gi = gs[i];
        if (!gi || !input.requiresGrad) return;
        if (!shapesEqual(gi.shape, input.shape)) {
          throw new Error(`${t.node!.op} backward produced gradient ${fmtShape(gi.shape)} for input ${fmtShape(input.shape)}`);
        }
        const existing = grads.get(input.id);
        if (!existing) {
          grads.set(input.id, gi);
          acquire(gi);
        } else if (gi === existing) {
          // the backward added into accum(i) in place
        } else {
          const s = sumOf(existing, gi);
          acquire(s);
          grads.set(input.id, s);
          release(existing);
        }
      });
      for (const gi of gs) if (gi && gi !== g && !holders.get(gi)) gi.dispose();
      release(g);
    }
  });
  if (!grad) seedTyped.dispose();
}

function accumulateLeaf(t: Tensor, g: Tensor, holders: Map<Tensor, number>, seed: Tensor): void {
  if (t.grad) {
    addInto(t.grad, g);
  } else if ((holders.get(g) ?? 0) === 1 && g !== seed) {
    holders.delete(g);
    t.grad = keep(g);
    return;
  } else {
    const copy = Tensor.empty(g.backend, g.shape, g.dtype);
    g.backend.kernels.affine(g.storage, copy.storage, 1, 0);
    t.grad = keep(copy);
  }
  const n = (holders.get(g) ?? 0) - 1;
  holders.set(g, n);
  if (n <= 0 && g !== seed) {
    holders.delete(g);
    g.dispose();
  }
}
