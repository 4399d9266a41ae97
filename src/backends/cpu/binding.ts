// The N-API surface of the native addon build/Release/itpn_cpu.node (sources in native/, built by node-gyp from
// binding.gyp). Every kernel takes typed arrays directly (no copies) plus scalars and small integer lists;
// float kernels are float32 only. The addon validates sizes and throws on mismatches or bad indices.
import * as fs from 'node:fs';
import * as path from 'node:path';

type F32 = Float32Array;
/** Copy-only kernels (stridedCopy, gather) move 4-byte words and accept Float32Array or Int32Array. */
type Word = Float32Array | Int32Array;
type Ints = number[] | Int32Array;

export interface NativeCpu {
  /** Kernel-table version of the addon (bumped when this interface changes). */
  readonly version: number;
  /** Unary op names in the order of their numeric codes. */
  readonly unaryOps: string[];
  /** Binary op names in the order of their numeric codes. */
  readonly binaryOps: string[];

  /** activation: 0 none, 1 exact GELU; offsets in elements. */
  linear(x: Float32Array, w: Float32Array, bias: Float32Array | null, residual: Float32Array | null, out: Float32Array,
    rows: number, inF: number, outF: number, activation?: number, xOffset?: number, outOffset?: number): void;
  /** OpenMP team size for the addon's kernels and OpenBLAS' thread count. */
  setNumThreads(n: number): void;
  getNumThreads(): number;
  /** Which sgemm every matmul uses (process-wide): oneDNN (default) or OpenBLAS; ITPN_GEMM sets the initial one. */
  setGemmLibrary(name: 'onednn' | 'openblas'): void;
  getGemmLibrary(): 'onednn' | 'openblas';
  /** Who packs a plain B operand for oneDNN's matmul primitive: our packer (default) or oneDNN's reorder (same bytes). */
  setBPacking(how: 'own' | 'reorder'): void;
  getBPacking(): 'own' | 'reorder';
  /** bfloat16 rounds the inputs of large batch-1 products (oneDNN only); accumulation stays float32. */
  setGemmPrecision(p: 'float32' | 'bfloat16'): void;
  getGemmPrecision(): 'float32' | 'bfloat16';
  /** Vector ISA of the transcendental kernels: 0 = x86-64-v2 baseline (SSE4.2), 1 = AVX2+FMA, 2 = AVX-512 (from CPUID). */
  simdLevel(): number;
  /** Lowers (or restores) the ISA level, clamped to what the CPU supports; returns the level in force. */
  setSimdLevel(level: number): number;

  unary(op: number, x: F32, out: F32): void;
  binary(op: number, a: F32, aStrides: Ints, b: F32, bStrides: Ints, out: F32, shape: Ints): void;
  affine(x: F32, out: F32, scale: number, shift: number): void;
  clamp(x: F32, out: F32, lo: number, hi: number): void;
  /** op 0 = sum (double accumulation), 1 = max. */
  reduce(op: number, x: F32, out: F32, outer: number, r: number, inner: number): void;
  argmax(x: F32, out: Int32Array, outer: number, r: number, inner: number): void;
  /** The optional offsets (elements) say where A, B and C start; out then needs offsetC + batch·M·N elements. */
  matmul(a: F32, b: F32, out: F32, batch: number, M: number, N: number, K: number, transA: boolean, transB: boolean,
    strideA: number, strideB: number, alpha: number, beta: number, offsetA?: number, offsetB?: number, offsetC?: number): void;
  stridedCopy(src: Word, offset: number, strides: Ints, out: Word, shape: Ints): void;
  stridedAccumulate(src: F32, out: F32, offset: number, strides: Ints, shape: Ints): void;
  gather(x: Word, idx: Int32Array, out: Word, outer: number, n: number, inner: number, k: number, idxBatched: boolean): void;
  scatterAdd(src: F32, idx: Int32Array, out: F32, outer: number, n: number, inner: number, k: number, idxBatched: boolean): void;
  softmax(x: F32, out: F32, rows: number, cols: number): void;
  softmaxBackward(y: F32, dy: F32, dx: F32, rows: number, cols: number): void;
  logSoftmax(x: F32, out: F32, rows: number, cols: number): void;
  logSoftmaxBackward(y: F32, dy: F32, dx: F32, rows: number, cols: number): void;
  layerNorm(x: F32, weight: F32 | null, bias: F32 | null, out: F32, mean: F32, rstd: F32, rows: number, cols: number,
    eps: number): void;
  layerNormBackward(dy: F32, x: F32, weight: F32 | null, mean: F32, rstd: F32, dx: F32, dweight: F32 | null,
    dbias: F32 | null, rows: number, cols: number, accumulate: boolean): void;
  fill(out: F32, value: number): void;
  /** colSums: also the column sums of dx as [n / colSums.length, colSums.length] (double accumulation). */
  geluBackward(x: F32, dy: F32, dx: F32, y?: F32 | null, colSums?: F32 | null): void;
  attention(qkv: F32, bias: F32 | null, out: F32, probs: F32 | null, B: number, N: number, H: number, D: number, scale: number,
    biasBatch: number): void;
  attentionBackward(qkv: F32, probs: F32, dout: F32, dqkv: F32, dlogits: F32 | null, B: number, N: number, H: number,
    D: number, scale: number, biasBatch: number): void;
  adamw(param: F32, grad: F32, m: F32, v: F32, lr: number, beta1: number, beta2: number, eps: number,
    weightDecay: number, biasCorrection1: number, biasCorrection2: number): void;
}

export const NATIVE_VERSION = 5;

/** The directory holding package.json, found by walking up from this file (works from src/ and dist/src/). */
export function packageRoot(): string {
  let dir = __dirname;
  for (;;) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`itpn: no package.json above ${__dirname}`);
    dir = parent;
  }
}

export function addonPath(): string {
  return path.join(packageRoot(), 'build', 'Release', 'itpn_cpu.node');
}

let cached: NativeCpu | null = null;

/** Loads the addon once; throws an Error that says how to build it when it is missing. */
export function loadNative(): NativeCpu {
  if (cached) return cached;
  const file = addonPath();
  if (!fs.existsSync(file)) {
    throw new Error(
      `itpn: the native CPU addon is not built (${file} is missing). Build it in the package root with ` +
      '`npm run build:native` (or `npm run install`, which runs npm\'s bundled node-gyp: `node-gyp rebuild`; ' +
      '`npx node-gyp rebuild` works too where node-gyp can be fetched). It needs g++, make, python3, oneDNN and ' +
      'OpenBLAS built with OpenMP (Debian: apt-get install libdnnl-dev libopenblas-openmp-dev).');
  }
  // libgomp reads its settings once, when the addon pulls it in. Its default wait policy (spin about 300k
  // iterations, then sleep) is left alone, as PyTorch does: forcing passive waiting made every parallel region pay
  // a futex wake-up, 13% of an itpn_base training step on an idle machine (BENCHMARKS.md), while the bounded
  // spin did not hurt with two CPU hogs competing for the 2 cores. OMP_WAIT_POLICY / GOMP_SPINCOUNT override it.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const mod = require(file) as NativeCpu;
  if (mod.version !== NATIVE_VERSION) {
    throw new Error(`itpn: ${file} is kernel-table version ${mod.version}, expected ${NATIVE_VERSION}; rebuild it ` +
      'with `npm run build:native`.');
  }
  cached = mod;
  return mod;
}

/** True when the addon file exists (does not load it). */
export function nativeAvailable(): boolean {
  try {
    return fs.existsSync(addonPath());
  } catch {
    return false;
  }
}
