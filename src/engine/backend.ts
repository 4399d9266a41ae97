// The contract between the engine and a compute backend (reference TS loops, native CPU, later CUDA).
// A backend owns storage (opaque handles; reading values into JS is explicit) and a fixed table of kernels.
// Kernels write into output storage the engine allocated; all tensors they see are contiguous, offset 0,
// unless an argument says otherwise (strided copies take explicit offsets and strides).
import type { DType, HostArray } from './dtype';

/** An opaque handle to `size` elements of `dtype` owned by a backend. */
export interface Storage {
  readonly dtype: DType;
  readonly size: number;
}

export type UnaryOp =
  | 'neg' | 'exp' | 'log' | 'sqrt' | 'rsqrt' | 'tanh' | 'sigmoid' | 'abs' | 'sign' | 'erf'
  | 'gelu' | 'gelu_grad' | 'relu' | 'step' | 'square' | 'reciprocal';

export type BinaryOp = 'add' | 'sub' | 'mul' | 'div' | 'max' | 'min' | 'pow' | 'gt' | 'ge' | 'lt' | 'le' | 'eq';

export type ReduceOp = 'sum' | 'max';

export interface MatmulAttrs {
  batch: number;
  M: number;
  N: number;
  K: number;
  /** A is stored [K, M] per batch instead of [M, K]. */
  transA: boolean;
  /** B is stored [N, K] per batch instead of [K, N]. */
  transB: boolean;
  /** Element stride between batches of A and B; 0 broadcasts one matrix over the batch. */
  strideA: number;
  strideB: number;
  /** C = alpha·op(A)·op(B) + beta·C. beta 0 ignores the old contents of C. */
  alpha: number;
  beta: number;
  /** Element offsets where A, B and C start (default 0): multiplies a row block of a larger tensor in place. */
  offsetA?: number;
  offsetB?: number;
  offsetC?: number;
}

/** GEMM input precision a backend may offer: float32, or bf16 (inputs rounded to bfloat16, float32 accumulation). */
export const GEMM_PRECISIONS = ['float32', 'bf16'] as const;
export type GemmPrecision = (typeof GEMM_PRECISIONS)[number];

export interface LinearOptions {
  /** Applied before the residual is added: the exact (erf) GELU, or none. */
  activation?: 'gelu' | null;
  /** Element offsets where x and out (and the residual, laid out like out) start: a row block of larger tensors. */
  xOffset?: number;
  outOffset?: number;
}

export interface GatherAttrs {
  /** x is viewed as [outer, n, inner]; idx as [outer or 1, k]; the result as [outer, k, inner]. */
  outer: number;
  n: number;
  inner: number;
  k: number;
  /** false: one index row shared by every outer slice. */
  idxBatched: boolean;
}

/**
 * Multi-head self-attention straight from the qkv Linear's output: qkv is [B, N, 3, H, D] (q, k, v blocks of one
 * token side by side), out is [B, N, H, D] (the proj Linear's input layout), probs is [B, H, N, N].
 */
export interface AttentionAttrs {
  B: number;
  N: number;
  H: number;
  D: number;
  /** Multiplies q·kᵀ (usually D^-1/2). */
  scale: number;
  /** Leading extent of the additive logit bias [biasBatch, H, N, N]: 1 shares it over the batch, B is per sample. */
  biasBatch: number;
}

export interface AdamWAttrs {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** 1 - beta1^t and 1 - beta2^t. */
  biasCorrection1: number;
  biasCorrection2: number;
}

export interface Kernels {
  /** out[i] = op(x[i]); out may be x (in place). */
  unary(op: UnaryOp, x: Storage, out: Storage): void;
  /** out[idx] = op(a[idx·aStrides], b[idx·bStrides]) over `shape` (the output shape, row-major). */
  binary(op: BinaryOp, a: Storage, aStrides: number[], b: Storage, bStrides: number[], out: Storage, shape: number[]): void;
  /** out = x·scale + shift. */
  affine(x: Storage, out: Storage, scale: number, shift: number): void;
  /** out = min(max(x, lo), hi). */
  clamp(x: Storage, out: Storage, lo: number, hi: number): void;
  /** x viewed [outer, r, inner] reduced over r into out [outer, inner]. */
  reduce(op: ReduceOp, x: Storage, out: Storage, outer: number, r: number, inner: number): void;
  /** Index of the first maximum over r; out is int32 [outer, inner]. */
  argmax(x: Storage, out: Storage, outer: number, r: number, inner: number): void;
  matmul(a: Storage, b: Storage, out: Storage, attrs: MatmulAttrs): void;
  /**
   * out [rows, outF] = act(x [rows, inF] · wᵀ + bias [outF]) + residual [rows, outF], w [outF, inF] (torch.nn.Linear
   * layout); bias, residual and the activation are optional; the residual array is the size of out; out aliases no
   * input.
   */
  linear(x: Storage, w: Storage, bias: Storage | null, residual: Storage | null, out: Storage, rows: number, inF: number,
    outF: number, opts?: LinearOptions): void;
  /** out (contiguous, `shape`) = src[offset + Σ idx·strides]. */
  stridedCopy(src: Storage, offset: number, strides: number[], out: Storage, shape: number[]): void;
  /** out[offset + Σ idx·strides] += src (contiguous, `shape`). */
  stridedAccumulate(src: Storage, out: Storage, offset: number, strides: number[], shape: number[]): void;
  gather(x: Storage, idx: Storage, out: Storage, attrs: GatherAttrs): void;
  /** out (already holding [outer, n, inner] values, usually zeros) += src scattered by idx. */
  scatterAdd(src: Storage, idx: Storage, out: Storage, attrs: GatherAttrs): void;
  /** Softmax over the last axis of a [rows, cols] view. */
  softmax(x: Storage, out: Storage, rows: number, cols: number): void;
  /** dx = y ⊙ (dy − Σ dy⊙y). */
  softmaxBackward(y: Storage, dy: Storage, dx: Storage, rows: number, cols: number): void;
  logSoftmax(x: Storage, out: Storage, rows: number, cols: number): void;
  /** dx = dy − exp(y)·Σ dy. */
  logSoftmaxBackward(y: Storage, dy: Storage, dx: Storage, rows: number, cols: number): void;
  /** Normalises rows of [rows, cols]; writes mean and rstd ([rows]) for the backward pass. */
  layerNorm(x: Storage, weight: Storage | null, bias: Storage | null, out: Storage, mean: Storage, rstd: Storage,
    rows: number, cols: number, eps: number): void;
  /**
   * Writes dx (adds into it with `accumulate`: dx then holds the input's other gradient, such as a residual
   * branch's); writes (not accumulates) dweight and dbias when given.
   */
  layerNormBackward(dy: Storage, x: Storage, weight: Storage | null, mean: Storage, rstd: Storage, dx: Storage,
    dweight: Storage | null, dbias: Storage | null, rows: number, cols: number, accumulate?: boolean): void;
  /**
   * probs = softmax(scale·q·kᵀ + bias) per (batch, head); out = probs·v (layouts in AttentionAttrs). probs null
   * (inference): the probabilities are not kept.
   */
  attention(qkv: Storage, bias: Storage | null, out: Storage, probs: Storage | null, attrs: AttentionAttrs): void;
  /**
   * Writes dqkv (every element): dv = pᵀ·dout, ds = p ⊙ (dout·vᵀ − rowsum(p ⊙ dout·vᵀ)), dq = scale·ds·k,
   * dk = scale·dsᵀ·q; also writes ds into dlogits ([B, H, N, N]) when given (the bias gradient before summing).
   */
  attentionBackward(qkv: Storage, probs: Storage, dout: Storage, dqkv: Storage, dlogits: Storage | null, attrs: AttentionAttrs): void;
  /**
   * dx = dy · gelu'(x), with gelu'(x) = Φ(x) + x·φ(x) (exact erf GELU); dx may be dy (in place). Also writes
   * y = gelu(x) when y is given (a recomputed activation for free: Φ(x) is shared), and, when colSums is given, the
   * column sums of dx viewed as [rows, cols] (cols = colSums' size; the fc1 bias gradient, taken while dx's rows
   * are in cache instead of in a second pass over it).
   */
  geluBackward(x: Storage, dy: Storage, dx: Storage, y?: Storage | null, colSums?: Storage | null): void;
  /** Element-wise conversion between dtypes (float → int32 truncates toward zero). */
  cast(x: Storage, out: Storage): void;
  fill(out: Storage, value: number): void;
  /** One decoupled-weight-decay Adam step, in place on param, m and v. */
  adamw(param: Storage, grad: Storage, m: Storage, v: Storage, attrs: AdamWAttrs): void;
}

export type KernelName = keyof Kernels;

export interface Backend {
  readonly name: string;
  /** Storage with unspecified contents. */
  alloc(dtype: DType, size: number): Storage;
  /** Copies host values into new storage. */
  upload(data: HostArray): Storage;
  /** Overwrites storage contents with host values of the same length and dtype. */
  write(s: Storage, data: HostArray): void;
  /** Copies storage contents out to a new host array. */
  download(s: Storage): HostArray;
  free(s: Storage): void;
  /** Number of storages allocated and not yet freed (leak checks). */
  liveBuffers(): number;
  readonly kernels: Kernels;
}
