// Element-wise primitives (unary, broadcasting binary, affine, clamp) and their gradients.
import type { BinaryOp, UnaryOp } from '../engine/backend';
import { broadcastShapes, broadcastStrides, collapseAxes, contiguousStrides, shapesEqual } from '../engine/shape';
import { record, Tensor } from '../engine/tensor';
import { full } from './creation';
import { sumToShape } from './reduce';

function unaryRaw(op: UnaryOp, x: Tensor): Tensor {
  const out = Tensor.empty(x.backend, x.shape, x.dtype);
  x.backend.kernels.unary(op, x.storage, out.storage);
  return out;
}

function binaryRaw(op: BinaryOp, a: Tensor, b: Tensor): Tensor {
  if (a.backend !== b.backend) throw new Error(`binary ${op}: tensors on different backends (${a.backend.name}, ${b.backend.name})`);
  if (a.dtype !== b.dtype) throw new Error(`binary ${op}: dtype mismatch ${a.dtype} vs ${b.dtype}`);
  const shape = broadcastShapes(a.shape, b.shape);
  const out = Tensor.empty(a.backend, shape, a.dtype);
  const c = collapseAxes(shape, [broadcastStrides(a.shape, shape), broadcastStrides(b.shape, shape)]);
  a.backend.kernels.binary(op, a.storage, c.strides[0], b.storage, c.strides[1], out.storage, c.shape);
  return out;
}

export function affine(x: Tensor, scale: number, shift: number): Tensor {
  const out = Tensor.empty(x.backend, x.shape, x.dtype);
  x.backend.kernels.affine(x.storage, out.storage, scale, shift);
  return record(out, 'affine', [x], (g) => [scale === 1 ? g : affine(g, scale, 0)]);
}

export const mulScalar = (x: Tensor, s: number): Tensor => affine(x, s, 0);
export const addScalar = (x: Tensor, s: number): Tensor => affine(x, 1, s);

export function neg(x: Tensor): Tensor {
  return affine(x, -1, 0);
}

export function exp(x: Tensor): Tensor {
  const y = unaryRaw('exp', x);
  return record(y, 'exp', [x], (g) => [mul(g, y)]);
}

export function log(x: Tensor): Tensor {
  return record(unaryRaw('log', x), 'log', [x], (g) => [div(g, x)]);
}

export function sqrt(x: Tensor): Tensor {
  const y = unaryRaw('sqrt', x);
  return record(y, 'sqrt', [x], (g) => [div(mulScalar(g, 0.5), y)]);
}

export function rsqrt(x: Tensor): Tensor {
  const y = unaryRaw('rsqrt', x);
  // d x^(-1/2) = -1/2 x^(-3/2) = -1/2 y^3
  return record(y, 'rsqrt', [x], (g) => [mul(g, mulScalar(mul(mul(y, y), y), -0.5))]);
}

export function tanh(x: Tensor): Tensor {
  const y = unaryRaw('tanh', x);
  return record(y, 'tanh', [x], (g) => [mul(g, affine(unaryRaw('square', y), -1, 1))]);
}

export function sigmoid(x: Tensor): Tensor {
  const y = unaryRaw('sigmoid', x);
  return record(y, 'sigmoid', [x], (g) => [mul(g, mul(y, affine(y, -1, 1)))]);
}

export function abs(x: Tensor): Tensor {
  return record(unaryRaw('abs', x), 'abs', [x], (g) => [mul(g, unaryRaw('sign', x))]);
}

export function square(x: Tensor): Tensor {
  return record(unaryRaw('square', x), 'square', [x], (g) => [mul(g, mulScalar(x, 2))]);
}

export function relu(x: Tensor): Tensor {
  return record(unaryRaw('relu', x), 'relu', [x], (g) => [mul(g, unaryRaw('step', x))]);
}

/** GELU, exact erf form (torch.nn.GELU default): x·Φ(x). arXiv 1606.08415. */
export function gelu(x: Tensor): Tensor {
  return record(unaryRaw('gelu', x), 'gelu', [x], (g) => {
    const dx = Tensor.empty(x.backend, x.shape, x.dtype);
    x.backend.kernels.geluBackward(x.storage, g.storage, dx.storage); // g·gelu'(x) in one pass
    return [dx];
  });
}

/** CLIP's QuickGELU: x·σ(1.702x). */
export function quickGelu(x: Tensor): Tensor {
  return mul(x, sigmoid(mulScalar(x, 1.702)));
}

export function clamp(x: Tensor, lo: number, hi: number): Tensor {
  const out = Tensor.empty(x.backend, x.shape, x.dtype);
  x.backend.kernels.clamp(x.storage, out.storage, lo, hi);
  // gradient passes where x is inside [lo, hi]
  return record(out, 'clamp', [x], (g) => [mul(g, binaryRaw('eq', out, x))]);
}

export function add(a: Tensor, b: Tensor): Tensor {
  const out = binaryRaw('add', a, b);
  return record(out, 'add', [a, b], (g) => [sumToShape(g, a.shape), sumToShape(g, b.shape)]);
}

export function sub(a: Tensor, b: Tensor): Tensor {
  const out = binaryRaw('sub', a, b);
  return record(out, 'sub', [a, b], (g) => [sumToShape(g, a.shape), b.requiresGrad ? sumToShape(neg(g), b.shape) : null]);
}

export function mul(a: Tensor, b: Tensor): Tensor {
  const out = binaryRaw('mul', a, b);
  return record(out, 'mul', [a, b], (g) => [
    a.requiresGrad ? sumToShape(binaryRaw('mul', g, b), a.shape) : null,
    b.requiresGrad ? sumToShape(binaryRaw('mul', g, a), b.shape) : null,
  ]);
}

export function div(a: Tensor, b: Tensor): Tensor {
  const out = binaryRaw('div', a, b);
  return record(out, 'div', [a, b], (g) => [
    a.requiresGrad ? sumToShape(binaryRaw('div', g, b), a.shape) : null,
    // d(a/b)/db = -a/b² = -out/b
    b.requiresGrad ? sumToShape(neg(binaryRaw('div', binaryRaw('mul', g, out), b)), b.shape) : null,
  ]);
}

export function maximum(a: Tensor, b: Tensor): Tensor {
  const out = binaryRaw('max', a, b);
  return record(out, 'maximum', [a, b], (g) => {
    const ma = binaryRaw('ge', a, b);
    return [sumToShape(binaryRaw('mul', g, ma), a.shape), sumToShape(binaryRaw('mul', g, affine(ma, -1, 1)), b.shape)];
  });
}

export function powScalar(x: Tensor, p: number): Tensor {
  const e = full(x.backend, [], p, x.dtype);
  const out = binaryRaw('pow', x, e);
  return record(out, 'pow', [x], (g) => [mul(g, mulScalar(binaryRaw('pow', x, full(x.backend, [], p - 1, x.dtype)), p))]);
}

/** Comparison results are 0/1 tensors of the input dtype and carry no gradient. */
export function compare(op: 'gt' | 'ge' | 'lt' | 'le' | 'eq', a: Tensor, b: Tensor): Tensor {
  return binaryRaw(op, a, b);
}

/** mask ? a : b, with mask a 0/1 tensor broadcastable to both. */
export function where(mask: Tensor, a: Tensor, b: Tensor): Tensor {
  return add(mul(mask, a), mul(affine(mask, -1, 1), b));
}

/** Copy with the same values (a fresh storage, for in-place kernels that must not alias). */
export function clone(x: Tensor): Tensor {
  const out = Tensor.empty(x.backend, x.shape, x.dtype);
  const s = contiguousStrides(x.shape);
  x.backend.kernels.stridedCopy(x.storage, 0, s, out.storage, x.shape);
  return record(out, 'clone', [x], (g) => [g]);
}

/** A tensor with the same values, cut from the graph. */
export function detach(x: Tensor): Tensor {
  return x.view(x.shape);
}

export function cast(x: Tensor, dtype: Tensor['dtype']): Tensor {
  if (x.dtype === dtype) return x.view(x.shape);
  const out = Tensor.empty(x.backend, x.shape, dtype);
  x.backend.kernels.cast(x.storage, out.storage);
  return out;
}

export function assertSameShape(a: Tensor, b: Tensor, what: string): void {
  if (!shapesEqual(a.shape, b.shape)) throw new Error(`${what}: shapes [${a.shape}] and [${b.shape}] differ`);
}
