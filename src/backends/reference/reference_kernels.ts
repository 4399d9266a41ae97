// The executable spec: every kernel as a plain loop over typed arrays, written for clarity, not speed.
// Works for float32, float64 and (where meaningful) int32 storage. The native CPU backend is tested against it.
import type { AdamWAttrs, AttentionAttrs, BinaryOp, GatherAttrs, Kernels, LinearOptions, MatmulAttrs, ReduceOp, Storage, UnaryOp } from '../../engine/backend';
import { host } from './host_storage';
import type { HostArray } from '../../engine/dtype';

// Abramowitz–Stegun 7.1.26 is too coarse for GELU parity; use a series / continued-fraction erf accurate to ~1e-15.
export function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax < 2.5) {
    // Maclaurin series: erf x = 2/√π Σ (−1)^n x^(2n+1) / (n! (2n+1))
    let term = ax;
    let sum = ax;
    const x2 = ax * ax;
    for (let n = 1; n < 60; n++) {
      term *= -x2 / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    const r = (2 / Math.sqrt(Math.PI)) * sum;
    return x < 0 ? -r : r;
  }
  // erfc x = exp(−x²)/√π · 1/(x + 1/2/(x + 1/(x + 3/2/(x + …)))) (Lentz-free backward evaluation)
  let f = ax;
  for (let n = 60; n >= 1; n--) f = ax + n / 2 / f;
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / f;
  const r = 1 - erfc;
  return x < 0 ? -r : r;
}

const INV_SQRT2 = Math.SQRT1_2;
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

function unaryFn(op: UnaryOp): (x: number) => number {
  switch (op) {
    case 'neg': return (x) => -x;
    case 'exp': return Math.exp;
    case 'log': return Math.log;
    case 'sqrt': return Math.sqrt;
    case 'rsqrt': return (x) => 1 / Math.sqrt(x);
    case 'tanh': return Math.tanh;
    case 'sigmoid': return (x) => 1 / (1 + Math.exp(-x));
    case 'abs': return Math.abs;
    case 'sign': return (x) => (x > 0 ? 1 : x < 0 ? -1 : 0);
    case 'erf': return erf;
    // GELU, exact erf form: x·Φ(x)
    case 'gelu': return (x) => 0.5 * x * (1 + erf(x * INV_SQRT2));
    // d/dx x·Φ(x) = Φ(x) + x·φ(x)
    case 'gelu_grad': return (x) => 0.5 * (1 + erf(x * INV_SQRT2)) + x * INV_SQRT_2PI * Math.exp(-0.5 * x * x);
    case 'relu': return (x) => (x > 0 ? x : 0);
    case 'step': return (x) => (x > 0 ? 1 : 0);
    case 'square': return (x) => x * x;
    case 'reciprocal': return (x) => 1 / x;
  }
}

function binaryFn(op: BinaryOp): (a: number, b: number) => number {
  switch (op) {
    case 'add': return (a, b) => a + b;
    case 'sub': return (a, b) => a - b;
    case 'mul': return (a, b) => a * b;
    case 'div': return (a, b) => a / b;
    case 'max': return (a, b) => (a > b || Number.isNaN(a) ? a : b);
    case 'min': return (a, b) => (a < b || Number.isNaN(a) ? a : b);
    case 'pow': return Math.pow;
    case 'gt': return (a, b) => (a > b ? 1 : 0);
    case 'ge': return (a, b) => (a >= b ? 1 : 0);
    case 'lt': return (a, b) => (a < b ? 1 : 0);
    case 'le': return (a, b) => (a <= b ? 1 : 0);
    case 'eq': return (a, b) => (a === b ? 1 : 0);
  }
}

/** Calls fn(linearOutIndex, offsetA, offsetB) for every element of a row-major iteration over `shape`. */
function forEachStrided2(shape: number[], sa: number[], sb: number[], fn: (i: number, oa: number, ob: number) => void): void {
  const rank = shape.length;
  const idx = new Array<number>(rank).fill(0);
  let oa = 0;
  let ob = 0;
  const total = shape.reduce((p, d) => p * d, 1);
  for (let i = 0; i < total; i++) {
    fn(i, oa, ob);
    for (let ax = rank - 1; ax >= 0; ax--) {
      idx[ax]++;
      oa += sa[ax];
      ob += sb[ax];
      if (idx[ax] < shape[ax]) break;
      oa -= sa[ax] * shape[ax];
      ob -= sb[ax] * shape[ax];
      idx[ax] = 0;
    }
  }
}

/** max_c x[o+c] and Σ_c exp(x[o+c] − max): the stable pieces of softmax and log-softmax. */
function rowMaxAndExpSum(xs: ArrayLike<number>, o: number, cols: number): [number, number] {
  let m = -Infinity;
  for (let c = 0; c < cols; c++) m = Math.max(m, xs[o + c]);
  let s = 0;
  for (let c = 0; c < cols; c++) s += Math.exp(xs[o + c] - m);
  return [m, s];
}

/** C = alpha·op(A)·op(B) + beta·C per batch item, in plain loops (double accumulation). */
function referenceMatmul(a: Storage, b: Storage, out: Storage, t: MatmulAttrs): void {
  const as = host(a), bs = host(b), cs = host(out);
  const { M, N, K } = t;
  for (let p = 0; p < t.batch; p++) {
    const oa = (t.offsetA ?? 0) + p * t.strideA, ob = (t.offsetB ?? 0) + p * t.strideB, oc = (t.offsetC ?? 0) + p * M * N;
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        let acc = 0;
        for (let k = 0; k < K; k++) {
          const av = t.transA ? as[oa + k * M + i] : as[oa + i * K + k];
          const bv = t.transB ? bs[ob + j * K + k] : bs[ob + k * N + j];
          acc += av * bv;
        }
        const c = oc + i * N + j;
        cs[c] = t.alpha * acc + (t.beta === 0 ? 0 : t.beta * cs[c]);
      }
    }
  }
}

/** ys[o, j] = sum or max over k of xs[o, k, j] for an [outer, r, inner] array (max propagates NaN). */
function reduceMiddle(op: ReduceOp, xs: HostArray, ys: HostArray, outer: number, r: number, inner: number): void {
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < inner; j++) {
      let acc = op === 'sum' ? 0 : -Infinity;
      for (let k = 0; k < r; k++) {
        const v = xs[(o * r + k) * inner + j];
        acc = op === 'sum' ? acc + v : v > acc || Number.isNaN(v) ? v : acc;
      }
      ys[o * inner + j] = acc;
    }
  }
}

export function referenceKernels(): Kernels {
  return {
    unary(op: UnaryOp, x: Storage, out: Storage): void {
      const xs = host(x), ys = host(out), f = unaryFn(op);
      for (let i = 0; i < xs.length; i++) ys[i] = f(xs[i]);
    },

    binary(op: BinaryOp, a: Storage, aStrides: number[], b: Storage, bStrides: number[], out: Storage, shape: number[]): void {
      const as = host(a), bs = host(b), ys = host(out), f = binaryFn(op);
      forEachStrided2(shape, aStrides, bStrides, (i, oa, ob) => { ys[i] = f(as[oa], bs[ob]); });
    },

    affine(x: Storage, out: Storage, scale: number, shift: number): void {
      const xs = host(x), ys = host(out);
      for (let i = 0; i < xs.length; i++) ys[i] = xs[i] * scale + shift;
    },

    clamp(x: Storage, out: Storage, lo: number, hi: number): void {
      const xs = host(x), ys = host(out);
      for (let i = 0; i < xs.length; i++) ys[i] = Math.min(Math.max(xs[i], lo), hi);
    },

    reduce(op: ReduceOp, x: Storage, out: Storage, outer: number, r: number, inner: number): void {
      reduceMiddle(op, host(x), host(out), outer, r, inner);
    },

    argmax(x: Storage, out: Storage, outer: number, r: number, inner: number): void {
      const xs = host(x), ys = host(out);
      for (let o = 0; o < outer; o++) {
        for (let j = 0; j < inner; j++) {
          let best = 0;
          for (let k = 1; k < r; k++) if (xs[(o * r + k) * inner + j] > xs[(o * r + best) * inner + j]) best = k;
          ys[o * inner + j] = best;
        }
      }
    },

    matmul: referenceMatmul,

    linear(x: Storage, w: Storage, bias: Storage | null, residual: Storage | null, out: Storage, rows: number, inF: number, outF: number,
      opts?: LinearOptions): void {
      const xs = host(x), ws = host(w), ys = host(out);
      const bs = bias ? host(bias) : null, rs = residual ? host(residual) : null;
      const xo = opts?.xOffset ?? 0, oo = opts?.outOffset ?? 0, act = opts?.activation === 'gelu' ? unaryFn('gelu') : null;
      for (let i = 0; i < rows; i++) {
        for (let j = 0; j < outF; j++) {
          let acc = 0;
          for (let k = 0; k < inF; k++) acc += xs[xo + i * inF + k] * ws[j * inF + k];
          acc += bs ? bs[j] : 0;
          ys[oo + i * outF + j] = (act ? act(acc) : acc) + (rs ? rs[oo + i * outF + j] : 0);
        }
      }
    },

    stridedCopy(src: Storage, offset: number, strides: number[], out: Storage, shape: number[]): void {
      const xs = host(src), ys = host(out);
      forEachStrided2(shape, strides, strides, (i, o) => { ys[i] = xs[offset + o]; });
    },

    stridedAccumulate(src: Storage, out: Storage, offset: number, strides: number[], shape: number[]): void {
      const xs = host(src), ys = host(out);
      forEachStrided2(shape, strides, strides, (i, o) => { ys[offset + o] += xs[i]; });
    },

    gather(x: Storage, idx: Storage, out: Storage, t: GatherAttrs): void {
      const xs = host(x), is = host(idx), ys = host(out);
      for (let o = 0; o < t.outer; o++) {
        for (let q = 0; q < t.k; q++) {
          const row = is[(t.idxBatched ? o * t.k : 0) + q];
          if (row < 0 || row >= t.n) throw new Error(`gather index ${row} out of range [0, ${t.n})`);
          for (let j = 0; j < t.inner; j++) ys[(o * t.k + q) * t.inner + j] = xs[(o * t.n + row) * t.inner + j];
        }
      }
    },

    scatterAdd(src: Storage, idx: Storage, out: Storage, t: GatherAttrs): void {
      const xs = host(src), is = host(idx), ys = host(out);
      for (let o = 0; o < t.outer; o++) {
        for (let q = 0; q < t.k; q++) {
          const row = is[(t.idxBatched ? o * t.k : 0) + q];
          if (row < 0 || row >= t.n) throw new Error(`scatter index ${row} out of range [0, ${t.n})`);
          for (let j = 0; j < t.inner; j++) ys[(o * t.n + row) * t.inner + j] += xs[(o * t.k + q) * t.inner + j];
        }
      }
    },

    softmax(x: Storage, out: Storage, rows: number, cols: number): void {
      const xs = host(x), ys = host(out);
      for (let r = 0; r < rows; r++) {
        const o = r * cols;
        const [m, s] = rowMaxAndExpSum(xs, o, cols);
        for (let c = 0; c < cols; c++) ys[o + c] = Math.exp(xs[o + c] - m) / s;
      }
    },

    softmaxBackward(y: Storage, dy: Storage, dx: Storage, rows: number, cols: number): void {
      const ys = host(y), gs = host(dy), out = host(dx);
      for (let r = 0; r < rows; r++) {
        const o = r * cols;
        let dot = 0;
        for (let c = 0; c < cols; c++) dot += gs[o + c] * ys[o + c];
        for (let c = 0; c < cols; c++) out[o + c] = ys[o + c] * (gs[o + c] - dot);
      }
    },

    logSoftmax(x: Storage, out: Storage, rows: number, cols: number): void {
      const xs = host(x), ys = host(out);
      for (let r = 0; r < rows; r++) {
        const o = r * cols;
        const [m, s] = rowMaxAndExpSum(xs, o, cols);
        const lse = m + Math.log(s);
        for (let c = 0; c < cols; c++) ys[o + c] = xs[o + c] - lse;
      }
    },

    logSoftmaxBackward(y: Storage, dy: Storage, dx: Storage, rows: number, cols: number): void {
      const ys = host(y), gs = host(dy), out = host(dx);
      for (let r = 0; r < rows; r++) {
        const o = r * cols;
        let s = 0;
        for (let c = 0; c < cols; c++) s += gs[o + c];
        for (let c = 0; c < cols; c++) out[o + c] = gs[o + c] - Math.exp(ys[o + c]) * s;
      }
    },

    layerNorm(x, weight, bias, out, mean, rstd, rows, cols, eps): void {
      const xs = host(x), ys = host(out), ms = host(mean), rs = host(rstd);
      const w = weight ? host(weight) : null, b = bias ? host(bias) : null;
      for (let r = 0; r < rows; r++) {
        const o = r * cols;
        let mu = 0;
        for (let c = 0; c < cols; c++) mu += xs[o + c];
        mu /= cols;
        let v = 0;
        for (let c = 0; c < cols; c++) v += (xs[o + c] - mu) ** 2;
        v /= cols; // biased variance, as torch.nn.LayerNorm
        const inv = 1 / Math.sqrt(v + eps);
        ms[r] = mu;
        rs[r] = inv;
        for (let c = 0; c < cols; c++) {
          const xhat = (xs[o + c] - mu) * inv;
          ys[o + c] = xhat * (w ? w[c] : 1) + (b ? b[c] : 0);
        }
      }
    },

    layerNormBackward(dy, x, weight, mean, rstd, dx, dweight, dbias, rows, cols, accumulate = false): void {
      const gs = host(dy), xs = host(x), ms = host(mean), rs = host(rstd), out = host(dx);
      const w = weight ? host(weight) : null;
      const dw = dweight ? host(dweight) : null, db = dbias ? host(dbias) : null;
      if (dw) dw.fill(0);
      if (db) db.fill(0);
      for (let r = 0; r < rows; r++) {
        const o = r * cols, mu = ms[r], inv = rs[r];
        // dxhat = dy·w; dx = inv·(dxhat − mean(dxhat) − xhat·mean(dxhat·xhat))
        let sumG = 0, sumGX = 0;
        for (let c = 0; c < cols; c++) {
          const xhat = (xs[o + c] - mu) * inv;
          const g = gs[o + c] * (w ? w[c] : 1);
          sumG += g;
          sumGX += g * xhat;
          if (dw) dw[c] += gs[o + c] * xhat;
          if (db) db[c] += gs[o + c];
        }
        sumG /= cols;
        sumGX /= cols;
        for (let c = 0; c < cols; c++) {
          const xhat = (xs[o + c] - mu) * inv;
          const g = gs[o + c] * (w ? w[c] : 1);
          out[o + c] = (accumulate ? out[o + c] : 0) + inv * (g - sumG - xhat * sumGX);
        }
      }
    },

    attention(qkv: Storage, bias: Storage | null, out: Storage, probs: Storage | null, t: AttentionAttrs): void {
      const xs = host(qkv), bs = bias ? host(bias) : null, ys = host(out);
      // without a probs output, one block's probabilities in an array of the output's precision
      const ps = probs ? host(probs) : new (ys.constructor as Float32ArrayConstructor | Float64ArrayConstructor)(t.N * t.N);
      const { B, N, H, D } = t, C = H * D;
      // q[b, i, h, d] = qkv[((b·N + i)·3 + 0)·C + h·D + d]; k and v are the blocks at +C and +2C.
      const at = (b: number, i: number, part: number, h: number) => ((b * N + i) * 3 + part) * C + h * D;
      for (let b = 0; b < B; b++) {
        for (let h = 0; h < H; h++) {
          const p0 = probs ? (b * H + h) * N * N : 0, b0 = bs ? ((t.biasBatch === 1 ? 0 : b) * H + h) * N * N : 0;
          for (let i = 0; i < N; i++) {
            // logits_ij = scale·q_i·k_j + bias_ij, then a softmax over j
            for (let j = 0; j < N; j++) {
              let dot = 0;
              for (let d = 0; d < D; d++) dot += xs[at(b, i, 0, h) + d] * xs[at(b, j, 1, h) + d];
              ps[p0 + i * N + j] = t.scale * dot + (bs ? bs[b0 + i * N + j] : 0);
            }
            const [m, s] = rowMaxAndExpSum(ps, p0 + i * N, N);
            for (let j = 0; j < N; j++) ps[p0 + i * N + j] = Math.exp(ps[p0 + i * N + j] - m) / s;
            // out_i = Σ_j p_ij·v_j
            for (let d = 0; d < D; d++) {
              let acc = 0;
              for (let j = 0; j < N; j++) acc += ps[p0 + i * N + j] * xs[at(b, j, 2, h) + d];
              ys[(b * N + i) * C + h * D + d] = acc;
            }
          }
        }
      }
    },

    attentionBackward(qkv: Storage, probs: Storage, dout: Storage, dqkv: Storage, dlogits: Storage | null, t: AttentionAttrs): void {
      const xs = host(qkv), ps = host(probs), gs = host(dout), dx = host(dqkv), dl = dlogits ? host(dlogits) : null;
      const { B, N, H, D } = t, C = H * D;
      const at = (b: number, i: number, part: number, h: number) => ((b * N + i) * 3 + part) * C + h * D;
      const ds = new Float64Array(N * N);
      for (let b = 0; b < B; b++) {
        for (let h = 0; h < H; h++) {
          const p0 = (b * H + h) * N * N;
          const dO = (i: number) => (b * N + i) * C + h * D;
          for (let i = 0; i < N; i++) {
            // dp_ij = dout_i·v_j; ds_ij = p_ij·(dp_ij − Σ_j' p_ij'·dp_ij')
            let dot = 0;
            for (let j = 0; j < N; j++) {
              let dp = 0;
              for (let d = 0; d < D; d++) dp += gs[dO(i) + d] * xs[at(b, j, 2, h) + d];
              ds[i * N + j] = dp;
              dot += dp * ps[p0 + i * N + j];
            }
            for (let j = 0; j < N; j++) ds[i * N + j] = ps[p0 + i * N + j] * (ds[i * N + j] - dot);
          }
          if (dl) for (let e = 0; e < N * N; e++) dl[p0 + e] = ds[e];
          for (let i = 0; i < N; i++) {
            for (let d = 0; d < D; d++) {
              // dq_i = scale·Σ_j ds_ij·k_j; dk_i = scale·Σ_j ds_ji·q_j; dv_i = Σ_j p_ji·dout_j
              let dq = 0, dk = 0, dv = 0;
              for (let j = 0; j < N; j++) {
                dq += ds[i * N + j] * xs[at(b, j, 1, h) + d];
                dk += ds[j * N + i] * xs[at(b, j, 0, h) + d];
                dv += ps[p0 + j * N + i] * gs[dO(j) + d];
              }
              dx[at(b, i, 0, h) + d] = t.scale * dq;
              dx[at(b, i, 1, h) + d] = t.scale * dk;
              dx[at(b, i, 2, h) + d] = dv;
            }
          }
        }
      }
    },

    geluBackward(x: Storage, dy: Storage, dx: Storage, y?: Storage | null, colSums?: Storage | null): void {
      const xs = host(x), gs = host(dy), out = host(dx), ys = y ? host(y) : null;
      const grad = unaryFn('gelu_grad'), gelu = unaryFn('gelu');
      for (let i = 0; i < xs.length; i++) {
        if (ys) ys[i] = gelu(xs[i]);
        out[i] = gs[i] * grad(xs[i]);
      }
      if (colSums) {
        const cs = host(colSums), cols = cs.length, rows = xs.length / cols;
        if (!Number.isInteger(rows)) throw new Error(`geluBackward: ${xs.length} values are not rows of ${cols} columns`);
        reduceMiddle('sum', out, cs, 1, rows, cols);
      }
    },

    cast(x: Storage, out: Storage): void {
      const xs = host(x), ys = host(out);
      if (ys instanceof Int32Array) for (let i = 0; i < xs.length; i++) ys[i] = Math.trunc(xs[i]);
      else for (let i = 0; i < xs.length; i++) ys[i] = xs[i];
    },

    fill(out: Storage, value: number): void {
      host(out).fill(value);
    },

    adamw(param: Storage, grad: Storage, m: Storage, v: Storage, t: AdamWAttrs): void {
      const p = host(param), g = host(grad), ms = host(m), vs = host(v);
      const stepSize = t.lr / t.biasCorrection1;
      const bc2sqrt = Math.sqrt(t.biasCorrection2);
      for (let i = 0; i < p.length; i++) {
        p[i] -= t.lr * t.weightDecay * p[i]; // decoupled weight decay (torch.optim.AdamW)
        ms[i] = t.beta1 * ms[i] + (1 - t.beta1) * g[i];
        vs[i] = t.beta2 * vs[i] + (1 - t.beta2) * g[i] * g[i];
        p[i] -= (stepSize * ms[i]) / (Math.sqrt(vs[i]) / bc2sqrt + t.eps);
      }
    },
  };
}
