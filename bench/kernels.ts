// Micro-benchmarks of the native CPU kernels at iTPN/ViT-Base-like shapes (1568 tokens = 8 images × 196 patches,
// width 512, MLP 2048, 8 heads of 64). Matmuls are reported in GFLOP/s, memory-bound kernels in GB/s (bytes read
// plus written once). Medians over repeats.
//   npx tsc -p tsconfig.json && node dist/bench/kernels.js [--threads N] [--quick]
import * as os from 'node:os';
import type { Kernels, MatmulAttrs, Storage } from '../src/engine/backend';
import { HostStorage } from '../src/backends/reference/host_storage';
import { cpuKernels, getCpuThreads, setCpuThreads } from '../src/backends/cpu/cpu_backend';

const args = process.argv.slice(2);
const threadsArg = args.indexOf('--threads');
if (threadsArg >= 0) setCpuThreads(Number(args[threadsArg + 1]));
const quick = args.includes('--quick');

const k: Kernels = cpuKernels();

function randn(n: number): Float32Array {
  const a = new Float32Array(n);
  let s = 12345;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    a[i] = (s / 4294967296 - 0.5) * 3.4;
  }
  return a;
}
const st = (a: Float32Array | Int32Array): Storage => new HostStorage(a);

/** Median seconds of fn over repeats (after warm-up), running for at least minTime seconds in total. */
function time(fn: () => void, minTime = quick ? 0.2 : 1, minReps = 5): number {
  fn();
  fn();
  const times: number[] = [];
  const start = process.hrtime.bigint();
  while (times.length < minReps || Number(process.hrtime.bigint() - start) / 1e9 < minTime) {
    const t0 = process.hrtime.bigint();
    fn();
    times.push(Number(process.hrtime.bigint() - t0) / 1e9);
    if (times.length >= 200) break;
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

const rows: string[][] = [];
function report(name: string, shape: string, sec: number, value: number, unit: string): void {
  rows.push([name, shape, (sec * 1e3).toFixed(3), `${value.toFixed(1)} ${unit}`]);
}

function benchMatmul(name: string, t: MatmulAttrs): void {
  const a = randn((t.batch - 1) * t.strideA + t.M * t.K);
  const b = randn((t.batch - 1) * t.strideB + t.K * t.N);
  const c = new Float32Array(t.batch * t.M * t.N);
  const sa = st(a), sb = st(b), sc = st(c);
  const sec = time(() => k.matmul(sa, sb, sc, t));
  const flops = 2 * t.batch * t.M * t.N * t.K;
  report(name, `${t.batch > 1 ? t.batch + '·' : ''}${t.M}×${t.N}×${t.K}${t.transA ? ' Aᵀ' : ''}${t.transB ? ' Bᵀ' : ''}`,
    sec, flops / sec / 1e9, 'GFLOP/s');
}

/** Calls matmul once per batch item on subarray views, so OpenBLAS threads each small product itself. */
function benchPerMatrix(name: string, t: MatmulAttrs): void {
  const a = randn(t.batch * t.M * t.K), b = randn(t.batch * t.K * t.N), c = new Float32Array(t.batch * t.M * t.N);
  const views = Array.from({ length: t.batch }, (_, i) => [
    st(a.subarray(i * t.M * t.K, (i + 1) * t.M * t.K)),
    st(b.subarray(i * t.K * t.N, (i + 1) * t.K * t.N)),
    st(c.subarray(i * t.M * t.N, (i + 1) * t.M * t.N)),
  ]);
  const one: MatmulAttrs = { ...t, batch: 1 };
  const sec = time(() => { for (const [x, y, z] of views) k.matmul(x, y, z, one); });
  report(name, `${t.batch}·${t.M}×${t.N}×${t.K}${t.transB ? ' Bᵀ' : ''}`, sec, (2 * t.batch * t.M * t.N * t.K) / sec / 1e9, 'GFLOP/s');
}

function mm(batch: number, M: number, N: number, K: number, transA = false, transB = false, strideB = K * N): MatmulAttrs {
  return { batch, M, N, K, transA, transB, strideA: M * K, strideB, alpha: 1, beta: 0 };
}

function benchBandwidth(name: string, shape: string, bytes: number, fn: () => void): void {
  const sec = time(fn);
  report(name, shape, sec, bytes / sec / 1e9, 'GB/s');
}

function main(): void {
  const cpus = os.cpus();
  console.log(`cpu: ${cpus[0]?.model ?? 'unknown'} (${cpus.length} logical cores visible)`);
  console.log(`threads: ${getCpuThreads()} (OpenMP + OpenBLAS)   node ${process.version}`);
  console.log('');

  const T = 1568, D = 512, H = 2048, heads = 8, img = 8, L = 196, hd = 64;
  // Linear layers: x[T, D]·W[D, H] (fc1), h[T, H]·W[H, D] (fc2), and the backward products.
  benchMatmul('fc1 forward', mm(1, T, H, D));
  benchMatmul('fc2 forward', mm(1, T, D, H));
  benchMatmul('fc1 weight grad', mm(1, D, H, T, true, false));
  benchMatmul('fc1 input grad', mm(1, T, D, H, false, true));
  benchMatmul('qkv forward', mm(1, T, 3 * D, D));
  // Attention per (image, head): scores q·kᵀ and probabilities·v.
  benchMatmul('attn scores', mm(img * heads, L, L, hd, false, true));
  benchMatmul('attn values', mm(img * heads, L, hd, L));
  // The same products as one threaded sgemm per matrix (what the batch-parallel path is measured against).
  benchPerMatrix('attn scores, sgemm per matrix', mm(img * heads, L, L, hd, false, true));
  benchPerMatrix('attn values, sgemm per matrix', mm(img * heads, L, hd, L));
  // Linear with a leading batch dim over a shared weight (strideB 0, folded into one GEMM).
  benchMatmul('batched linear', { ...mm(img, L, H, D, false, false, 0) });

  const n = T * H;
  const x = randn(n), y = new Float32Array(n), g = randn(n);
  const sx = st(x), sy = st(y), sg = st(g);
  benchBandwidth('gelu', `${T}×${H}`, 8 * n, () => k.unary('gelu', sx, sy));
  benchBandwidth('gelu_grad', `${T}×${H}`, 8 * n, () => k.unary('gelu_grad', sx, sy));
  benchBandwidth('add (bias broadcast)', `${T}×${H}`, 8 * n, () => k.binary('add', sx, [H, 1], st(randn(H)), [0, 1], sy, [T, H]));
  benchBandwidth('mul (same shape)', `${T}×${H}`, 12 * n, () => k.binary('mul', sx, [H, 1], sg, [H, 1], sy, [T, H]));
  benchBandwidth('sum over rows', `${T}×${H} → ${H}`, 4 * n, () => k.reduce('sum', sx, st(new Float32Array(H)), 1, T, H));

  const ln = T * D;
  const lx = st(randn(ln)), lo = st(new Float32Array(ln)), w = st(randn(D)), b = st(randn(D));
  const mean = st(new Float32Array(T)), rstd = st(new Float32Array(T));
  const ldy = st(randn(ln)), ldx = st(new Float32Array(ln)), dw = st(new Float32Array(D)), db = st(new Float32Array(D));
  benchBandwidth('layerNorm', `${T}×${D}`, 8 * ln, () => k.layerNorm(lx, w, b, lo, mean, rstd, T, D, 1e-6));
  k.layerNorm(lx, w, b, lo, mean, rstd, T, D, 1e-6);
  benchBandwidth('layerNormBackward', `${T}×${D}`, 12 * ln,
    () => k.layerNormBackward(ldy, lx, w, mean, rstd, ldx, dw, db, T, D));

  const sRows = img * heads * L, sn = sRows * L;
  const sxs = st(randn(sn)), sys = st(new Float32Array(sn)), sdy = st(randn(sn)), sdx = st(new Float32Array(sn));
  benchBandwidth('softmax', `${sRows}×${L}`, 8 * sn, () => k.softmax(sxs, sys, sRows, L));
  benchBandwidth('softmaxBackward', `${sRows}×${L}`, 12 * sn, () => k.softmaxBackward(sys, sdy, sdx, sRows, L));

  // Head split: [img, L, 3, heads, hd] → [3, img, heads, L, hd] style permutation.
  const qkv = st(randn(img * L * 3 * D)), qkvOut = st(new Float32Array(img * L * 3 * D));
  benchBandwidth('stridedCopy (head split)', `${img}×${L}×3×${heads}×${hd}`, 8 * img * L * 3 * D,
    () => k.stridedCopy(qkv, 0, [D, L * 3 * D, hd, 3 * D, 1], qkvOut, [3, img, heads, L, hd]));

  const P = 22_000_000;
  const p = st(randn(P)), pg = st(randn(P)), pm = st(new Float32Array(P)), pv = st(new Float32Array(P));
  benchBandwidth('adamw', `${(P / 1e6).toFixed(0)}M params`, 28 * P, () => k.adamw(p, pg, pm, pv,
    { lr: 1e-4, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.05, biasCorrection1: 0.1, biasCorrection2: 0.001 }));

  const widths = [0, 1, 2, 3].map((c) => Math.max(...rows.map((r) => r[c].length), ['kernel', 'shape', 'ms', 'rate'][c].length));
  const line = (r: string[]) => r.map((v, c) => (c >= 2 ? v.padStart(widths[c]) : v.padEnd(widths[c]))).join('  ');
  console.log(line(['kernel', 'shape', 'ms', 'rate']));
  for (const r of rows) console.log(line(r));
}

main();
