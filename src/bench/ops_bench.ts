// `itpn bench gemm` and `itpn bench ops` on our side: GEMMs through the matmul op, and layer norm, softmax,
// GELU and attention forward + backward through the engine (autograd included), at ViT-B shapes; plus the fused
// attention and MLP primitives beside the composites they replace.
import type { Backend } from '../engine/backend';
import { backward } from '../engine/autograd';
import { Rng } from '../engine/random';
import { tidy } from '../engine/scope';
import type { Tensor } from '../engine/tensor';
import { attention, gelu, layerNorm, linear, matmul, mlp, mulScalar, permute, reshape, slice, softmax, tensor } from '../ops';
import { median } from './median';

export function medianMs(fn: () => void, minTimeMs = 500, minReps = 5, warmup = 2): number {
  for (let i = 0; i < warmup; i++) fn();
  const times: number[] = [];
  const start = performance.now();
  while (times.length < minReps || performance.now() - start < minTimeMs) {
    const t0 = performance.now();
    fn();
    times.push(performance.now() - t0);
    if (times.length >= 200) break;
  }
  return median(times);
}

function rand(backend: Backend, rng: Rng, shape: number[], grad = false): Tensor {
  const a = new Float32Array(shape.reduce((p, d) => p * d, 1));
  rng.fillNormal(a);
  const t = tensor(backend, a, shape);
  t.requiresGrad = grad;
  t.kept = true;
  return t;
}

export interface GemmResult { name: string; m: number; n: number; k: number; ms: number; gflops: number }

export function benchGemm(backend: Backend, minTimeMs: number): GemmResult[] {
  const rng = new Rng(0);
  const cases: Array<{ name: string; a: number[]; b: number[]; tA: boolean; tB: boolean; m: number; n: number; k: number }> = [
    { name: 'gemm_1024', a: [1024, 1024], b: [1024, 1024], tA: false, tB: false, m: 1024, n: 1024, k: 1024 },
    { name: 'gemm_mlp_nn', a: [1568, 768], b: [768, 3072], tA: false, tB: false, m: 1568, n: 3072, k: 768 },
    { name: 'gemm_mlp_nt', a: [1568, 3072], b: [768, 3072], tA: false, tB: true, m: 1568, n: 768, k: 3072 },
    { name: 'gemm_mlp_tn', a: [1568, 768], b: [1568, 3072], tA: true, tB: false, m: 768, n: 3072, k: 1568 },
  ];
  return cases.map((c) => {
    const a = rand(backend, rng, c.a), b = rand(backend, rng, c.b);
    const ms = medianMs(() => tidy(() => { matmul(a, b, c.tA, c.tB); }), minTimeMs);
    a.dispose();
    b.dispose();
    return { name: c.name, m: c.m, n: c.n, k: c.k, ms, gflops: (2 * c.m * c.n * c.k) / ms / 1e6 };
  });
}

/** Forward + backward of f with a fixed random upstream gradient, median ms. */
function fwdBwd(backend: Backend, rng: Rng, shapes: number[][], f: (...xs: Tensor[]) => Tensor, minTimeMs: number): number {
  const xs = shapes.map((s) => rand(backend, rng, s, true));
  const outShape = tidy(() => f(...xs).shape);
  const g = rand(backend, rng, outShape);
  const ms = medianMs(() => tidy(() => {
    backward(f(...xs), g);
    for (const x of xs) { x.grad?.dispose(); x.grad = null; }
  }), minTimeMs);
  [...xs, g].forEach((t) => t.dispose());
  return ms;
}

export function benchOps(backend: Backend, minTimeMs: number): Record<string, number> {
  const rng = new Rng(1);
  const w = rand(backend, rng, [768], true), b = rand(backend, rng, [768], true);
  const out = {
    layer_norm_ms: fwdBwd(backend, rng, [[1568, 768]], (x) => layerNorm(x, w, b, 1e-6), minTimeMs),
    softmax_ms: fwdBwd(backend, rng, [[8, 12, 196, 196]], softmax, minTimeMs),
    gelu_ms: fwdBwd(backend, rng, [[1568, 3072]], gelu, minTimeMs),
    attention_ms: fwdBwd(backend, rng, [[8, 12, 196, 64], [8, 12, 196, 64], [8, 12, 196, 64]],
      (q, k, v) => matmul(softmax(matmul(mulScalar(q, 64 ** -0.5), k, false, true)), v), minTimeMs),
    // The fused primitives beside the composites they replace (same work, from the qkv projection / the MLP input).
    attention_qkv_composite_ms: fwdBwd(backend, rng, [[8, 196, 3 * 768]], (qkv) => {
      const p = permute(reshape(qkv, [8, 196, 3, 12, 64]), [2, 0, 3, 1, 4]);
      const part = (i: number) => reshape(slice(p, 0, i, i + 1), [8, 12, 196, 64]);
      const o = matmul(softmax(matmul(mulScalar(part(0), 64 ** -0.5), part(1), false, true)), part(2));
      return reshape(permute(o, [0, 2, 1, 3]), [8, 196, 768]);
    }, minTimeMs),
    attention_qkv_fused_ms: fwdBwd(backend, rng, [[8, 196, 3 * 768]], (qkv) => attention(qkv, 12, 64 ** -0.5), minTimeMs),
    mlp_composite_ms: fwdBwd(backend, rng, [[1568, 768], [3072, 768], [3072], [768, 3072], [768]],
      (x, w1, b1, w2, b2) => linear(gelu(linear(x, w1, b1)), w2, b2), minTimeMs),
    mlp_fused_ms: fwdBwd(backend, rng, [[1568, 768], [3072, 768], [3072], [768, 3072], [768]], mlp, minTimeMs),
  };
  w.dispose();
  b.dispose();
  return out;
}
