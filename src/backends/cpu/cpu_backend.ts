// The native CPU backend: the reference backend's host storage (typed arrays in a HostPool) with float32 kernels
// running in the C++ addon (oneDNN or OpenBLAS GEMMs, OpenMP loops). Every other dtype (float64 gradient checks, int32
// index tensors) and `cast` go to the reference kernels, which read the same storage, so nothing is copied.
import { GEMM_PRECISIONS, type AdamWAttrs, type AttentionAttrs, type Backend, type BinaryOp, type GatherAttrs, type GemmPrecision, type Kernels,
  type LinearOptions, type MatmulAttrs, type ReduceOp, type Storage, type UnaryOp } from '../../engine/backend';
import { dtypeOfArray } from '../../engine/dtype';
import { HostPool, host } from '../reference/host_storage';
import { createReferenceBackend, referenceKernels } from '../reference/reference_backend';
import { loadNative, type NativeCpu } from './binding';

export interface CpuBackendOptions {
  /** Threads for the addon's OpenMP loops and OpenBLAS (process-wide setting). Default: OpenMP's default. */
  threads?: number;
  /** GEMM precision (process-wide setting); default: leave as is (float32 unless set before). */
  precision?: GemmPrecision;
  /** Storage pool, shareable with a reference backend. */
  pool?: HostPool;
}

function f32(s: Storage): Float32Array | null {
  const d = host(s);
  return d instanceof Float32Array ? d : null;
}

function opTable(names: readonly string[]): Map<string, number> {
  return new Map(names.map((n, i) => [n, i]));
}

function code(table: Map<string, number>, op: string, kind: string): number {
  const c = table.get(op);
  if (c === undefined) throw new Error(`cpu backend: the native addon has no ${kind} op '${op}'`);
  return c;
}

export function cpuKernels(native: NativeCpu = loadNative()): Kernels {
  const ref = referenceKernels();
  const unaryCodes = opTable(native.unaryOps);
  const binaryCodes = opTable(native.binaryOps);
  const word = (s: Storage): Float32Array | Int32Array | null => {
    const d = host(s);
    return d instanceof Float32Array || d instanceof Int32Array ? d : null;
  };

  /** (x, out, rows, cols) row kernels: native on float32, else the reference kernel. */
  type RowFn = (x: Storage, out: Storage, rows: number, cols: number) => void;
  const rowKernel = (nat: (x: Float32Array, y: Float32Array, rows: number, cols: number) => void, fallback: RowFn): RowFn =>
    (x, out, rows, cols) => {
      const xs = f32(x), ys = f32(out);
      if (xs && ys) nat(xs, ys, rows, cols);
      else fallback(x, out, rows, cols);
    };
  /** (y, dy, dx, rows, cols) row kernels of the backward pass, likewise. */
  type RowBackwardFn = (y: Storage, dy: Storage, dx: Storage, rows: number, cols: number) => void;
  const rowBackwardKernel = (nat: (y: Float32Array, dy: Float32Array, dx: Float32Array, rows: number, cols: number) => void,
    fallback: RowBackwardFn): RowBackwardFn => (y, dy, dx, rows, cols) => {
    const ys = f32(y), gs = f32(dy), ds = f32(dx);
    if (ys && gs && ds) nat(ys, gs, ds, rows, cols);
    else fallback(y, dy, dx, rows, cols);
  };

  const matmul = (a: Storage, b: Storage, out: Storage, t: MatmulAttrs): void => {
    const as = f32(a), bs = f32(b), cs = f32(out);
    if (as && bs && cs) {
      if (t.offsetA !== undefined || t.offsetB !== undefined || t.offsetC !== undefined) {
        native.matmul(as, bs, cs, t.batch, t.M, t.N, t.K, t.transA, t.transB, t.strideA, t.strideB, t.alpha, t.beta,
          t.offsetA ?? 0, t.offsetB ?? 0, t.offsetC ?? 0);
      } else {
        native.matmul(as, bs, cs, t.batch, t.M, t.N, t.K, t.transA, t.transB, t.strideA, t.strideB, t.alpha, t.beta);
      }
    } else {
      ref.matmul(a, b, out, t);
    }
  };

  return {
    unary(op: UnaryOp, x: Storage, out: Storage): void {
      const xs = f32(x), ys = f32(out);
      if (xs && ys) native.unary(code(unaryCodes, op, 'unary'), xs, ys);
      else ref.unary(op, x, out);
    },

    binary(op: BinaryOp, a: Storage, aStrides: number[], b: Storage, bStrides: number[], out: Storage, shape: number[]): void {
      const as = f32(a), bs = f32(b), ys = f32(out);
      if (as && bs && ys) native.binary(code(binaryCodes, op, 'binary'), as, aStrides, bs, bStrides, ys, shape);
      else ref.binary(op, a, aStrides, b, bStrides, out, shape);
    },

    affine(x: Storage, out: Storage, scale: number, shift: number): void {
      const xs = f32(x), ys = f32(out);
      if (xs && ys) native.affine(xs, ys, scale, shift);
      else ref.affine(x, out, scale, shift);
    },

    clamp(x: Storage, out: Storage, lo: number, hi: number): void {
      const xs = f32(x), ys = f32(out);
      if (xs && ys) native.clamp(xs, ys, lo, hi);
      else ref.clamp(x, out, lo, hi);
    },

    reduce(op: ReduceOp, x: Storage, out: Storage, outer: number, r: number, inner: number): void {
      const xs = f32(x), ys = f32(out);
      if (xs && ys) native.reduce(op === 'sum' ? 0 : 1, xs, ys, outer, r, inner);
      else ref.reduce(op, x, out, outer, r, inner);
    },

    argmax(x: Storage, out: Storage, outer: number, r: number, inner: number): void {
      const xs = f32(x), ys = host(out);
      if (xs && ys instanceof Int32Array) native.argmax(xs, ys, outer, r, inner);
      else ref.argmax(x, out, outer, r, inner);
    },

    matmul,

    linear(x: Storage, w: Storage, bias: Storage | null, residual: Storage | null, out: Storage, rows: number, inF: number, outF: number,
      opts?: LinearOptions): void {
      const xs = f32(x), ws = f32(w), ys = f32(out);
      const bs = bias ? f32(bias) : null, rs = residual ? f32(residual) : null;
      if (xs && ws && ys && (!bias || bs) && (!residual || rs)) {
        native.linear(xs, ws, bs, rs, ys, rows, inF, outF, opts?.activation === 'gelu' ? 1 : 0, opts?.xOffset ?? 0, opts?.outOffset ?? 0);
      } else {
        ref.linear(x, w, bias, residual, out, rows, inF, outF, opts);
      }
    },

    stridedCopy(src: Storage, offset: number, strides: number[], out: Storage, shape: number[]): void {
      const xs = word(src), ys = word(out);
      if (xs && ys && dtypeOfArray(xs) === dtypeOfArray(ys)) native.stridedCopy(xs, offset, strides, ys, shape);
      else ref.stridedCopy(src, offset, strides, out, shape);
    },

    stridedAccumulate(src: Storage, out: Storage, offset: number, strides: number[], shape: number[]): void {
      const xs = f32(src), ys = f32(out);
      if (xs && ys) native.stridedAccumulate(xs, ys, offset, strides, shape);
      else ref.stridedAccumulate(src, out, offset, strides, shape);
    },

    gather(x: Storage, idx: Storage, out: Storage, t: GatherAttrs): void {
      const xs = word(x), is = host(idx), ys = word(out);
      if (xs && ys && is instanceof Int32Array && dtypeOfArray(xs) === dtypeOfArray(ys)) {
        native.gather(xs, is, ys, t.outer, t.n, t.inner, t.k, t.idxBatched);
      } else {
        ref.gather(x, idx, out, t);
      }
    },

    scatterAdd(src: Storage, idx: Storage, out: Storage, t: GatherAttrs): void {
      const xs = f32(src), is = host(idx), ys = f32(out);
      if (xs && ys && is instanceof Int32Array) native.scatterAdd(xs, is, ys, t.outer, t.n, t.inner, t.k, t.idxBatched);
      else ref.scatterAdd(src, idx, out, t);
    },

    softmax: rowKernel(native.softmax, ref.softmax),
    softmaxBackward: rowBackwardKernel(native.softmaxBackward, ref.softmaxBackward),
    logSoftmax: rowKernel(native.logSoftmax, ref.logSoftmax),
    logSoftmaxBackward: rowBackwardKernel(native.logSoftmaxBackward, ref.logSoftmaxBackward),

    layerNorm(x, weight, bias, out, mean, rstd, rows, cols, eps): void {
      const xs = f32(x), ys = f32(out), ms = f32(mean), rs = f32(rstd);
      const ws = weight ? f32(weight) : null, bs = bias ? f32(bias) : null;
      const optionalOk = (!weight || ws) && (!bias || bs);
      if (xs && ys && ms && rs && optionalOk) native.layerNorm(xs, ws, bs, ys, ms, rs, rows, cols, eps);
      else ref.layerNorm(x, weight, bias, out, mean, rstd, rows, cols, eps);
    },

    layerNormBackward(dy, x, weight, mean, rstd, dx, dweight, dbias, rows, cols, accumulate = false): void {
      const gs = f32(dy), xs = f32(x), ms = f32(mean), rs = f32(rstd), ds = f32(dx);
      const ws = weight ? f32(weight) : null, dws = dweight ? f32(dweight) : null, dbs = dbias ? f32(dbias) : null;
      const optionalOk = (!weight || ws) && (!dweight || dws) && (!dbias || dbs);
      if (gs && xs && ms && rs && ds && optionalOk) native.layerNormBackward(gs, xs, ws, ms, rs, ds, dws, dbs, rows, cols, accumulate);
      else ref.layerNormBackward(dy, x, weight, mean, rstd, dx, dweight, dbias, rows, cols, accumulate);
    },

    attention(qkv: Storage, bias: Storage | null, out: Storage, probs: Storage | null, t: AttentionAttrs): void {
      const xs = f32(qkv), bs = bias ? f32(bias) : null, ys = f32(out), ps = probs ? f32(probs) : null;
      if (xs && ys && (!probs || ps) && (!bias || bs)) native.attention(xs, bs, ys, ps, t.B, t.N, t.H, t.D, t.scale, t.biasBatch);
      else ref.attention(qkv, bias, out, probs, t);
    },

    attentionBackward(qkv: Storage, probs: Storage, dout: Storage, dqkv: Storage, dlogits: Storage | null, t: AttentionAttrs): void {
      const xs = f32(qkv), ps = f32(probs), gs = f32(dout), ds = f32(dqkv), ls = dlogits ? f32(dlogits) : null;
      if (xs && ps && gs && ds && (!dlogits || ls)) native.attentionBackward(xs, ps, gs, ds, ls, t.B, t.N, t.H, t.D, t.scale, t.biasBatch);
      else ref.attentionBackward(qkv, probs, dout, dqkv, dlogits, t);
    },

    geluBackward(x: Storage, dy: Storage, dx: Storage, y?: Storage | null, colSums?: Storage | null): void {
      const xs = f32(x), gs = f32(dy), ds = f32(dx), ys = y ? f32(y) : null, cs = colSums ? f32(colSums) : null;
      if (xs && gs && ds && (!y || ys) && (!colSums || cs)) native.geluBackward(xs, gs, ds, ys, cs);
      else ref.geluBackward(x, dy, dx, y, colSums);
    },

    cast(x: Storage, out: Storage): void {
      ref.cast(x, out);
    },

    fill(out: Storage, value: number): void {
      const ys = f32(out);
      if (ys) native.fill(ys, value);
      else ref.fill(out, value);
    },

    adamw(param: Storage, grad: Storage, m: Storage, v: Storage, t: AdamWAttrs): void {
      const ps = f32(param), gs = f32(grad), ms = f32(m), vs = f32(v);
      if (ps && gs && ms && vs) {
        native.adamw(ps, gs, ms, vs, t.lr, t.beta1, t.beta2, t.eps, t.weightDecay, t.biasCorrection1, t.biasCorrection2);
      } else {
        ref.adamw(param, grad, m, v, t);
      }
    },
  };
}

export function createCpuBackend(opts: CpuBackendOptions = {}): Backend {
  const native = loadNative();
  if (opts.threads !== undefined) native.setNumThreads(opts.threads);
  if (opts.precision !== undefined) setCpuGemmPrecision(opts.precision);
  // Storage management is exactly the reference backend's (same HostPool, same HostStorage), so the two can
  // exchange storage freely; only the kernel table differs.
  const base = createReferenceBackend(opts.pool ?? new HostPool());
  return { ...base, name: 'cpu', kernels: cpuKernels(native) };
}

/** Sets the addon's OpenMP and OpenBLAS thread counts (process-wide). */
export function setCpuThreads(n: number): void {
  loadNative().setNumThreads(n);
}

export function getCpuThreads(): number {
  return loadNative().getNumThreads();
}

/**
 * Sets the GEMM precision (process-wide). bf16 rounds the inputs of the large products (Linear layers and their
 * gradients) to bfloat16 for AMX / AVX512-BF16 kernels, accumulating in float32; every other op stays float32. It needs
 * oneDNN as the GEMM library (not ITPN_GEMM=openblas) and is only fast on CPUs with AMX or AVX512-BF16.
 */
export function setCpuGemmPrecision(p: GemmPrecision): void {
  if (!GEMM_PRECISIONS.includes(p)) throw new Error(`unknown precision "${p}" (choose from ${GEMM_PRECISIONS.join(', ')})`);
  const native = loadNative();
  if (p === 'bf16' && native.getGemmLibrary() !== 'onednn') {
    throw new Error('precision bf16 needs oneDNN GEMMs; unset ITPN_GEMM=openblas');
  }
  native.setGemmPrecision(p === 'bf16' ? 'bfloat16' : 'float32');
}

export function getCpuGemmPrecision(): GemmPrecision {
  return loadNative().getGemmPrecision() === 'bfloat16' ? 'bf16' : 'float32';
}
