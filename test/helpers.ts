// Shared test helpers: finite-difference gradient checks in float64 on the reference backend.
import assert from 'node:assert/strict';
import * as path from 'node:path';
import type { Backend } from '../src/engine/backend';
import { backward } from '../src/engine/autograd';
import { Rng } from '../src/engine/random';
import { tidy } from '../src/engine/scope';
import { Tensor } from '../src/engine/tensor';
import { createReferenceBackend } from '../src/backends/reference/reference_backend';
import { mul, sum, tensor } from '../src/ops';

export const repoRoot = path.resolve(__dirname, '..', '..');
export const fixturesDir = path.join(repoRoot, 'test', 'fixtures');

export const ref64: Backend = createReferenceBackend();

export function randTensor(backend: Backend, shape: number[], rng: Rng, dtype: 'float32' | 'float64' = 'float64', scale = 1): Tensor {
  const n = shape.reduce((p, d) => p * d, 1);
  const a = dtype === 'float64' ? new Float64Array(n) : new Float32Array(n);
  rng.fillNormal(a, 0, scale);
  return tensor(backend, a, shape);
}

/**
 * Checks d(Σ w⊙f(inputs))/d(inputs) from autograd against central differences, with a fixed random
 * weighting w so every output element matters. Inputs must be float64 on the reference backend.
 */
export function gradCheck(name: string, f: (...xs: Tensor[]) => Tensor, inputs: Tensor[], opts: { eps?: number; tol?: number } = {}): void {
  const eps = opts.eps ?? 1e-6, tol = opts.tol ?? 1e-6;
  const rng = new Rng(1234);
  tidy(() => {
    for (const x of inputs) x.requiresGrad = true;
    const y0 = f(...inputs);
    const w = randTensor(y0.backend, y0.shape, rng, 'float64');
    const objective = (...xs: Tensor[]) => sum(mul(f(...xs), w)).item();
    const loss = sum(mul(y0, w));
    backward(loss);
    inputs.forEach((x, k) => {
      const analytic = x.grad!.toArray();
      const base = x.toArray() as Float64Array;
      for (let i = 0; i < base.length; i++) {
        const plus = base.slice(); plus[i] += eps;
        const minus = base.slice(); minus[i] -= eps;
        const xsPlus = inputs.map((t, j) => (j === k ? tensor(t.backend, plus, t.shape) : t));
        const xsMinus = inputs.map((t, j) => (j === k ? tensor(t.backend, minus, t.shape) : t));
        const numeric = tidy(() => (objective(...xsPlus) - objective(...xsMinus)) / (2 * eps));
        const err = Math.abs(numeric - analytic[i]) / Math.max(1, Math.abs(numeric));
        assert.ok(err < tol, `${name}: d/dinput${k}[${i}] analytic ${analytic[i]} vs numeric ${numeric} (err ${err})`);
      }
      x.grad!.dispose();
      x.grad = null;
    });
  });
}

export function relL2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num) / Math.max(Math.sqrt(den), 1e-30);
}
