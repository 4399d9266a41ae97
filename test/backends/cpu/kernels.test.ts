// The native CPU kernels against the reference kernels (the executable spec), kernel by kernel, on random inputs
// of many shapes: broadcasts, transposes, batch stride 0, sizes below and above the threading threshold, odd sizes.
// Float results must agree to a relative L2 error of 1e-5; index and copy kernels must agree exactly.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import type { AttentionAttrs, BinaryOp, GatherAttrs, Kernels, MatmulAttrs, Storage, UnaryOp } from '../../../src/engine/backend';
import type { HostArray } from '../../../src/engine/dtype';
import { HostStorage } from '../../../src/backends/reference/host_storage';
import { referenceKernels } from '../../../src/backends/reference/reference_backend';
import { cpuKernels, createCpuBackend, getCpuThreads, setCpuThreads } from '../../../src/backends/cpu/cpu_backend';
import { loadNative } from '../../../src/backends/cpu/binding';

const TOL = 1e-5;
const ref: Kernels = referenceKernels();
const cpu: Kernels = cpuKernels();

// ---------------------------------------------------------------- helpers

/** Small deterministic PRNG (mulberry32) with normal draws; independent of the engine's RNG. */
class Rand {
  private s: number;
  constructor(seed: number) { this.s = seed >>> 0; }
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  normal(): number {
    const u = Math.max(this.next(), 1e-12), v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
  int(n: number): number { return Math.floor(this.next() * n); }
}

const rng = new Rand(20240611);

function randn(n: number, scale = 1, shift = 0): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal() * scale + shift;
  return a;
}
function randInts(n: number, hi: number): Int32Array {
  const a = new Int32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.int(hi);
  return a;
}
const st = (a: HostArray): Storage => new HostStorage(a);
const sizeOf = (shape: number[]) => shape.reduce((p, d) => p * d, 1);
function contiguous(shape: number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) { s[i] = acc; acc *= shape[i]; }
  return s;
}
function bstrides(from: number[], to: number[]): number[] {
  const cs = contiguous(from);
  const out = new Array<number>(to.length).fill(0);
  const off = to.length - from.length;
  for (let i = 0; i < from.length; i++) out[off + i] = from[i] === 1 ? 0 : cs[i];
  return out;
}

function relL2(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let num = 0, den = 0;
  for (let i = 0; i < want.length; i++) {
    num += (got[i] - want[i]) ** 2;
    den += want[i] ** 2;
  }
  return Math.sqrt(num) / Math.max(Math.sqrt(den), 1e-30);
}

/** Non-finite values must match exactly (same NaN/±inf positions); finite ones to a relative L2 error. */
function assertClose(got: ArrayLike<number>, want: ArrayLike<number>, what: string, tol = TOL): void {
  assert.equal(got.length, want.length, `${what}: length`);
  const g: number[] = [], w: number[] = [];
  for (let i = 0; i < want.length; i++) {
    if (Number.isFinite(want[i])) { g.push(got[i]); w.push(want[i]); continue; }
    assert.ok(Object.is(got[i], want[i]) || (Number.isNaN(got[i]) && Number.isNaN(want[i])),
      `${what}: element ${i} is ${got[i]}, expected ${want[i]}`);
  }
  const err = relL2(g, w);
  assert.ok(err <= tol, `${what}: relative L2 error ${err.toExponential(3)} > ${tol}`);
}

function assertExact(got: ArrayLike<number>, want: ArrayLike<number>, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    if (!(Object.is(got[i], want[i]) || (Number.isNaN(got[i]) && Number.isNaN(want[i])) || got[i] === want[i])) {
      assert.fail(`${what}: element ${i} is ${got[i]}, expected ${want[i]}`);
    }
  }
}

/** Runs `fn` on the reference and the native kernels with identical (cloned) storage; returns both outputs. */
function both(arrays: HostArray[], fn: (k: Kernels, s: Storage[]) => void): { got: HostArray[]; want: HostArray[] } {
  const a = arrays.map((x) => x.slice());
  const b = arrays.map((x) => x.slice());
  fn(ref, a.map(st));
  fn(cpu, b.map(st));
  return { got: b, want: a };
}

// Sizes straddling the 32k-element threading threshold.
const SIZES = [1, 7, 1000, 32767, 32768, 100003];

// ---------------------------------------------------------------- element-wise

describe('unary', () => {
  const ops: UnaryOp[] = ['neg', 'exp', 'log', 'sqrt', 'rsqrt', 'tanh', 'sigmoid', 'abs', 'sign', 'erf', 'gelu',
    'gelu_grad', 'relu', 'step', 'square', 'reciprocal'];
  const positive = new Set<UnaryOp>(['log', 'sqrt', 'rsqrt']);
  for (const op of ops) {
    test(op, () => {
      for (const n of SIZES) {
        for (const scale of [1, 4]) {
          const x = positive.has(op) ? randn(n, scale).map((v) => Math.abs(v) + 1e-3) : randn(n, scale);
          const { got, want } = both([x, new Float32Array(n)], (k, [xs, ys]) => k.unary(op, xs, ys));
          assertClose(got[1], want[1], `${op} n=${n} scale=${scale}`);
        }
      }
    });
  }
  test('special values', () => {
    const special = Float32Array.from([0, -0, 1e-30, -1e-30, 1, -1, 0.999, 1.001, 3.9, -3.9, 5, -5, 9, -9, 14, -14,
      30, -30, 88, -88, 100, -100, Infinity, -Infinity, NaN]);
    for (const op of ops) {
      const { got, want } = both([special, new Float32Array(special.length)], (k, [xs, ys]) => k.unary(op, xs, ys));
      assertClose(got[1], want[1], `${op} special`);
    }
  });
  test('gelu and erf over a dense grid (element-wise relative error)', () => {
    const n = 200001;
    const x = new Float32Array(n);
    for (let i = 0; i < n; i++) x[i] = -12 + (24 * i) / (n - 1);
    for (const op of ['gelu', 'gelu_grad', 'erf', 'sigmoid'] as UnaryOp[]) {
      const { got, want } = both([x, new Float32Array(n)], (k, [xs, ys]) => k.unary(op, xs, ys));
      // Absolute error against max(|value|, 1) everywhere; relative error where the value is not tiny, except
      // for gelu_grad, whose zero crossing (x ≈ -0.75) is a float32 cancellation, not a kernel error.
      let worstAbs = 0, worstRel = 0;
      for (let i = 0; i < n; i++) {
        const w = want[1][i], e = Math.abs(got[1][i] - w);
        worstAbs = Math.max(worstAbs, e / Math.max(Math.abs(w), 1));
        if (Math.abs(w) > 1e-10) worstRel = Math.max(worstRel, e / Math.abs(w));
      }
      assert.ok(worstAbs < 1e-6, `${op}: worst scaled absolute error ${worstAbs}`);
      if (op !== 'gelu_grad') assert.ok(worstRel < 1e-5, `${op}: worst relative error ${worstRel}`);
      assertClose(got[1], want[1], `${op} grid`);
    }
  });
  test('in place (x and out the same storage)', () => {
    const x = randn(50000);
    const a = x.slice(), b = x.slice();
    ref.unary('gelu', st(a), st(a));
    const sb = st(b);
    cpu.unary('gelu', sb, sb);
    assertClose(b, a, 'in-place gelu');
  });
});

test('affine, clamp, fill', () => {
  for (const n of SIZES) {
    const x = randn(n, 3);
    let r = both([x, new Float32Array(n)], (k, [xs, ys]) => k.affine(xs, ys, 0.37, -1.25));
    assertClose(r.got[1], r.want[1], `affine n=${n}`);
    r = both([x, new Float32Array(n)], (k, [xs, ys]) => k.clamp(xs, ys, -0.5, 1.5));
    assertExact(r.got[1], r.want[1], `clamp n=${n}`);
    r = both([new Float32Array(n)], (k, [ys]) => k.fill(ys, -2.75));
    assertExact(r.got[0], r.want[0], `fill n=${n}`);
  }
  const special = Float32Array.from([NaN, Infinity, -Infinity, 0, -0, 2]);
  const r = both([special, new Float32Array(6)], (k, [xs, ys]) => k.clamp(xs, ys, -1, 1));
  assertExact(r.got[1], r.want[1], 'clamp special');
});

describe('binary', () => {
  const ops: BinaryOp[] = ['add', 'sub', 'mul', 'div', 'max', 'min', 'pow', 'gt', 'ge', 'lt', 'le', 'eq'];
  // [a shape, b shape] pairs broadcast to the output shape.
  const patterns: [number[], number[]][] = [
    [[1000], [1000]],
    [[3, 5, 7], [3, 5, 7]],
    [[64, 513], [513]],          // bias add
    [[64, 513], [64, 1]],        // per-row scalar
    [[64, 513], []],             // scalar b
    [[], [64, 513]],             // scalar a
    [[7, 1, 5], [1, 6, 5]],      // both broadcast
    [[2, 1, 3, 1, 4, 2], [1, 5, 3, 3, 1, 2]], // rank 6
    [[300, 257], [257]],         // above the threshold, bias
    [[200000], [200000]],        // long contiguous, threaded
    [[200000], [1]],             // long, scalar b
    [[256, 1, 200], [256, 196, 1]], // outer product-like broadcast, above threshold
  ];
  const valuesFor = (op: BinaryOp, n: number, isB: boolean): Float32Array => {
    if (op === 'pow') return isB ? randn(n, 1) : randn(n, 1).map((v) => Math.abs(v) + 0.05);
    if (op === 'div' && isB) return randn(n).map((v) => (Math.abs(v) < 0.05 ? 0.5 : v));
    if (['gt', 'ge', 'lt', 'le', 'eq', 'max', 'min'].includes(op)) return randInts(n, 4).reduce((a, v, i) => ((a[i] = v - 2), a), new Float32Array(n));
    return randn(n);
  };
  for (const op of ops) {
    test(op, () => {
      for (const [sa, sb] of patterns) {
        const out = (() => {
          const n = Math.max(sa.length, sb.length);
          const o: number[] = [];
          for (let i = 0; i < n; i++) o.push(Math.max(sa[sa.length - n + i] ?? 1, sb[sb.length - n + i] ?? 1));
          return o;
        })();
        const a = valuesFor(op, sizeOf(sa), false), b = valuesFor(op, sizeOf(sb), true);
        const as = bstrides(sa, out), bs = bstrides(sb, out);
        const { got, want } = both([a, b, new Float32Array(sizeOf(out))], (k, [x, y, z]) => k.binary(op, x, as, y, bs, z, out));
        const what = `${op} [${sa}] with [${sb}]`;
        if (['gt', 'ge', 'lt', 'le', 'eq', 'max', 'min'].includes(op)) assertExact(got[2], want[2], what);
        else assertClose(got[2], want[2], what);
      }
    });
  }
  test('transposed and sliced operands', () => {
    // a stored [9, 40] read as its transpose [40, 9]; b a column slice with a row stride of 20.
    const a = randn(360), b = randn(40 * 20);
    const shape = [40, 9];
    const r = both([a, b, new Float32Array(360)], (k, [x, y, z]) => k.binary('mul', x, [1, 40], y, [20, 2], z, shape));
    assertClose(r.got[2], r.want[2], 'transposed mul');
    const big = randn(512 * 300), bt = randn(512 * 300);
    const r2 = both([big, bt, new Float32Array(512 * 300)], (k, [x, y, z]) => k.binary('sub', x, [1, 512], y, [300, 1], z, [512, 300]));
    assertClose(r2.got[2], r2.want[2], 'large transposed sub');
  });
  test('NaN propagation of max/min', () => {
    const a = Float32Array.from([NaN, 1, NaN, -0, 0]), b = Float32Array.from([1, NaN, NaN, 0, -0]);
    for (const op of ['max', 'min'] as BinaryOp[]) {
      const r = both([a, b, new Float32Array(5)], (k, [x, y, z]) => k.binary(op, x, [1], y, [1], z, [5]));
      assertExact(r.got[2], r.want[2], `${op} NaN`);
    }
  });
});

// ---------------------------------------------------------------- reductions

describe('reductions', () => {
  const shapes: [number, number, number][] = [
    [1, 1, 1], [3, 7, 1], [1, 100000, 1], [2, 50000, 1], [5, 13, 7], [1, 1000, 64], [4, 3, 2000],
    [64, 512, 1], [1568, 512, 1], [1, 1568, 512], [8, 196, 33], [3, 0, 4], [0, 5, 3], [7, 1, 600],
    [1, 392, 2048], [1, 1568, 4097], // column sums by row slices per thread, and just past their width limit
  ];
  test('sum', () => {
    for (const [o, r, i] of shapes) {
      const x = randn(o * r * i, 1, 0.3);
      const res = both([x, new Float32Array(o * i)], (k, [xs, ys]) => k.reduce('sum', xs, ys, o, r, i));
      assertClose(res.got[1], res.want[1], `sum [${o}, ${r}, ${i}]`);
    }
  });
  test('max', () => {
    for (const [o, r, i] of shapes) {
      const x = randn(o * r * i);
      const res = both([x, new Float32Array(o * i)], (k, [xs, ys]) => k.reduce('max', xs, ys, o, r, i));
      assertExact(res.got[1], res.want[1], `max [${o}, ${r}, ${i}]`);
    }
    const x = randn(6 * 5 * 4);
    x[7] = NaN; x[60] = NaN; x[100] = -Infinity;
    for (const [o, r, i] of [[6, 5, 4], [1, 120, 1], [30, 4, 1]] as [number, number, number][]) {
      const res = both([x, new Float32Array(o * i)], (k, [xs, ys]) => k.reduce('max', xs, ys, o, r, i));
      assertExact(res.got[1], res.want[1], `max NaN [${o}, ${r}, ${i}]`);
    }
  });
  test('argmax', () => {
    for (const [o, r, i] of shapes) {
      if (r === 0) continue;
      // Few distinct values, so ties are common: the first maximum must win.
      const x = Float32Array.from(randInts(o * r * i, 5));
      const res = both([x, new Int32Array(o * i)], (k, [xs, ys]) => k.argmax(xs, ys, o, r, i));
      assertExact(res.got[1], res.want[1], `argmax ties [${o}, ${r}, ${i}]`);
      const y = randn(o * r * i);
      const res2 = both([y, new Int32Array(o * i)], (k, [xs, ys]) => k.argmax(xs, ys, o, r, i));
      assertExact(res2.got[1], res2.want[1], `argmax [${o}, ${r}, ${i}]`);
    }
    const z = Float32Array.from([NaN, 1, 2, 3, NaN, 1, -Infinity, -Infinity, -Infinity]);
    const res = both([z, new Int32Array(3)], (k, [xs, ys]) => k.argmax(xs, ys, 3, 3, 1));
    assertExact(res.got[1], res.want[1], 'argmax NaN/-inf');
  });
});

// ---------------------------------------------------------------- matmul

describe('matmul', () => {
  const run = (t: MatmulAttrs, what: string, cInit?: Float32Array) => {
    const aSize = (t.batch - 1) * t.strideA + t.M * t.K;
    const bSize = (t.batch - 1) * t.strideB + t.K * t.N;
    const a = randn(Math.max(aSize, 0)), b = randn(Math.max(bSize, 0));
    const c = cInit ?? randn(t.batch * t.M * t.N);
    const { got, want } = both([a, b, c], (k, [x, y, z]) => k.matmul(x, y, z, t));
    assertClose(got[2], want[2], what);
  };
  const attrs = (batch: number, M: number, N: number, K: number, transA = false, transB = false,
    strideA = M * K, strideB = K * N, alpha = 1, beta = 0): MatmulAttrs =>
    ({ batch, M, N, K, transA, transB, strideA, strideB, alpha, beta });

  test('transpose combinations, odd sizes', () => {
    for (const [M, N, K] of [[1, 1, 1], [7, 5, 3], [33, 17, 65], [130, 70, 90], [1, 300, 200], [257, 1, 129]]) {
      for (const ta of [false, true]) {
        for (const tb of [false, true]) run(attrs(1, M, N, K, ta, tb), `[${M}x${K}]·[${K}x${N}] tA=${ta} tB=${tb}`);
      }
    }
  });
  test('Aᵀ·B with M > N and a long K (the oneDNN matmul-primitive path), both libraries', () => {
    const native = loadNative();
    const before = native.getGemmLibrary();
    try {
      for (const lib of ['onednn', 'openblas'] as const) {
        native.setGemmLibrary(lib);
        run(attrs(1, 40, 8, 1100, true, false), `${lib}: [40x1100]ᵀ·[1100x8]`);
        run(attrs(1, 7, 33, 1030), `${lib}: [7x1030]·[1030x33]`);
      }
      assert.throws(() => native.setGemmLibrary('mkl' as 'onednn'), /expected 'onednn' or 'openblas'/);
    } finally {
      native.setGemmLibrary(before);
    }
  });
  test('from 1024 rows: our B packing writes the same bytes as oneDNN\'s reorder (padded K and N, Aᵀ·B too)', () => {
    const native = loadNative(), before = native.getBPacking();
    try {
      for (const [M, N, K, ta] of [[1030, 260, 270, false], [1024, 300, 257, false], [1100, 37, 1025, true], [2048, 512, 392, true]] as const) {
        const a = randn(M * K), b = randn(K * N);
        const out = (how: 'own' | 'reorder') => {
          native.setBPacking(how);
          const c = new Float32Array(M * N);
          native.matmul(a, b, c, 1, M, N, K, ta, false, 0, 0, 1, 0);
          return c;
        };
        const own = out('own'), reorder = out('reorder');
        assert.ok(own.every((x, i) => Object.is(x, reorder[i])), `[${M}x${K}]·[${K}x${N}] tA=${ta}: results differ`);
        assert.ok(own.some((x) => x !== 0), 'product is all zeros');
      }
      assert.throws(() => native.setBPacking('mkl' as 'own'), /expected 'own' or 'reorder'/);
    } finally {
      native.setBPacking(before);
    }
  });
  test('from 1024 rows (the primitive on a packed B): every transpose combination, float32 and bf16', () => {
    for (const ta of [false, true]) {
      for (const tb of [false, true]) run(attrs(1, 1030, 260, 270, ta, tb), `[1030x270]·[270x260] tA=${ta} tB=${tb}`);
    }
    const native = loadNative();
    native.setGemmPrecision('bfloat16');
    try {
      const t = attrs(1, 1030, 260, 270, true, false);
      const { got, want } = both([randn(1030 * 270), randn(270 * 260), new Float32Array(1030 * 260)], (k, [x, y, z]) => k.matmul(x, y, z, t));
      const e = relL2(got[2], want[2]);
      assert.ok(e < 1e-2 && e > 1e-5, `bf16 [1030x270]ᵀ·[270x260]: rel L2 ${e}`);
    } finally {
      native.setGemmPrecision('float32');
    }
  });
  test('batched, batch strides (including 0)', () => {
    run(attrs(6, 9, 11, 13), 'batch 6 contiguous');
    run(attrs(6, 9, 11, 13, false, false, 9 * 13, 0), 'batch 6, shared B (folded into one GEMM)');
    run(attrs(6, 9, 11, 13, false, true, 9 * 13, 0), 'batch 6, shared transposed B');
    run(attrs(6, 9, 11, 13, true, false, 9 * 13, 0), 'batch 6, transposed A, shared B');
    run(attrs(5, 9, 11, 13, false, false, 0, 11 * 13), 'batch 5, shared A');
    run(attrs(4, 9, 11, 13, false, false, 200, 150), 'batch 4, padded strides');
    run(attrs(64, 49, 49, 32, false, true), 'attention scores 64x49x49x32');
    run(attrs(64, 49, 32, 49), 'attention values 64x49x32x49');
    run(attrs(3, 150, 140, 130, true, true), 'batch 3, large, both transposed');
  });
  test('alpha and beta', () => {
    const t = attrs(2, 20, 30, 40, false, false, 800, 1200, 0.125, 1);
    run(t, 'beta 1 accumulates');
    run({ ...t, beta: 0.5, alpha: -2 }, 'alpha -2, beta 0.5');
    const nanC = new Float32Array(2 * 20 * 30).fill(NaN);
    run({ ...t, beta: 0 }, 'beta 0 ignores NaN in C', nanC);
    run({ ...t, K: 0, strideA: 0, strideB: 0, beta: 0.5 }, 'K = 0 scales C');
  });
});

describe('linear', () => {
  test('linear: bias and residual in every combination, odd sizes', () => {
    for (const [rows, inF, outF] of [[1, 1, 1], [7, 5, 3], [130, 70, 90], [33, 0, 4]]) {
      for (const withBias of [false, true]) {
        for (const withRes of [false, true]) {
          const x = randn(rows * inF), w = randn(outF * inF);
          const bias = withBias ? randn(outF) : null, res = withRes ? randn(rows * outF) : null;
          const { got, want } = both([x, w, bias ?? new Float32Array(0), res ?? new Float32Array(0), randn(rows * outF)],
            (k, s) => k.linear(s[0], s[1], withBias ? s[2] : null, withRes ? s[3] : null, s[4], rows, inF, outF));
          assertClose(got[4], want[4], `linear [${rows}x${inF}]→${outF} bias=${withBias} residual=${withRes}`);
        }
      }
    }
  });
  test('linear: GELU and row-block offsets', () => {
    const [rows, inF, outF, xOffset, outOffset] = [9, 20, 13, 2 * 20, 3 * 13];
    for (const lib of ['onednn', 'openblas'] as const) {
      const native = loadNative(), before = native.getGemmLibrary();
      native.setGemmLibrary(lib);
      try {
        // the residual is laid out like out: its row block starts at outOffset too
        const outSize = outOffset + rows * outF + 4;
        const x = randn(xOffset + rows * inF + 5), w = randn(outF * inF), bias = randn(outF), res = randn(outSize);
        for (const withRes of [false, true]) {
          const { got, want } = both([x, w, bias, res, randn(outSize)],
            (k, s) => k.linear(s[0], s[1], s[2], withRes ? s[3] : null, s[4], rows, inF, outF, { activation: 'gelu', xOffset, outOffset }));
          assertClose(got[4], want[4], `${lib}: linear + GELU at offsets, residual=${withRes}`);
        }
      } finally {
        native.setGemmLibrary(before);
      }
    }
  });
  test('bf16 precision: products within bfloat16 accuracy of the float32 reference, and really rounded', () => {
    const native = loadNative();
    native.setGemmPrecision('bfloat16');
    try {
      for (const [M, N, K, ta, tb] of [[96, 80, 70, false, false], [96, 80, 70, true, false], [33, 130, 90, false, true]] as const) {
        const t = { batch: 1, M, N, K, transA: ta, transB: tb, strideA: 0, strideB: 0, alpha: 1, beta: 0 };
        const { got, want } = both([randn(M * K), randn(K * N), new Float32Array(M * N)], (k, s) => k.matmul(s[0], s[1], s[2], t));
        const e = relL2(got[2], want[2]);
        assert.ok(e < 1e-2 && e > 1e-5, `bf16 matmul [${M}x${N}x${K}] tA=${ta} tB=${tb}: rel L2 ${e}`);
      }
      const [rows, inF, outF] = [64, 96, 80];
      const { got, want } = both([randn(rows * inF), randn(outF * inF), randn(outF), randn(rows * outF), new Float32Array(rows * outF)],
        (k, s) => k.linear(s[0], s[1], s[2], s[3], s[4], rows, inF, outF, { activation: 'gelu' }));
      const e = relL2(got[4], want[4]);
      assert.ok(e < 1e-2 && e > 1e-5, `bf16 linear + GELU + residual: rel L2 ${e}`);
    } finally {
      native.setGemmPrecision('float32');
    }
    assert.throws(() => native.setGemmPrecision('fp8' as 'float32'), /expected 'float32' or 'bfloat16'/);
  });
  test('linear from 1024 rows (weight packed by a reorder first): bias, residual, GELU, offsets, bf16', () => {
    const [rows, inF, outF, xOffset, outOffset] = [1100, 70, 90, 3 * 70, 2 * 90];
    const outSize = outOffset + rows * outF;
    const x = randn(xOffset + rows * inF), w = randn(outF * inF), bias = randn(outF), res = randn(outSize);
    for (const gelu of [false, true]) {
      const { got, want } = both([x, w, bias, res, randn(outSize)],
        (k, s) => k.linear(s[0], s[1], s[2], s[3], s[4], rows, inF, outF, { activation: gelu ? 'gelu' : undefined, xOffset, outOffset }));
      assertClose(got[4], want[4], `linear [${rows}x${inF}]→${outF} at offsets, gelu=${gelu}`);
    }
    const native = loadNative();
    native.setGemmPrecision('bfloat16');
    try {
      const { got, want } = both([x, w, bias, res, randn(outSize)],
        (k, s) => k.linear(s[0], s[1], s[2], s[3], s[4], rows, inF, outF, { activation: 'gelu', xOffset, outOffset }));
      const e = relL2(got[4], want[4]);
      assert.ok(e < 1e-2 && e > 1e-5, `bf16 linear [${rows}x${inF}]→${outF}: rel L2 ${e}`);
    } finally {
      native.setGemmPrecision('float32');
    }
  });
  test('linear rejects a weight of the wrong size', () => {
    assert.throws(() => cpu.linear(st(randn(6)), st(randn(5)), null, null, st(randn(4)), 2, 3, 2), /w is not \[outF, inF\]/);
  });
});

// ---------------------------------------------------------------- strided copies

describe('strided copy / accumulate', () => {
  const permute = (shape: number[], perm: number[]) => {
    const cs = contiguous(shape);
    return { shape: perm.map((p) => shape[p]), strides: perm.map((p) => cs[p]) };
  };
  const copyCases: { what: string; srcSize: number; offset: number; strides: number[]; shape: number[] }[] = [];
  for (const [shape, perm] of [
    [[5, 7], [1, 0]], [[3, 4, 5], [2, 0, 1]], [[2, 3, 4, 5], [0, 2, 1, 3]], [[64, 49, 32], [1, 0, 2]],
    [[196, 512], [1, 0]], [[8, 196, 64], [0, 2, 1]], [[2, 2, 2, 2, 2, 2, 2, 3], [7, 6, 5, 4, 3, 2, 1, 0]],
  ] as [number[], number[]][]) {
    const p = permute(shape, perm);
    copyCases.push({ what: `permute [${shape}] by [${perm}]`, srcSize: sizeOf(shape), offset: 0, ...p });
  }
  copyCases.push({ what: 'slice with offset', srcSize: 20 * 30, offset: 3 * 30 + 4, strides: [30, 1], shape: [10, 21] });
  copyCases.push({ what: 'strided slice', srcSize: 20 * 30, offset: 1, strides: [60, 3], shape: [10, 9] });
  copyCases.push({ what: 'broadcast (stride 0)', srcSize: 37, offset: 0, strides: [0, 1], shape: [1000, 37] });
  copyCases.push({ what: 'broadcast column', srcSize: 500, offset: 0, strides: [1, 0], shape: [500, 77] });
  copyCases.push({ what: 'long contiguous', srcSize: 300000, offset: 17, strides: [1], shape: [299000] });
  copyCases.push({ what: 'long strided', srcSize: 300000, offset: 0, strides: [3], shape: [100000] });
  copyCases.push({ what: 'reversed', srcSize: 50, offset: 49, strides: [-1], shape: [50] });
  copyCases.push({ what: 'empty', srcSize: 10, offset: 0, strides: [1, 1], shape: [0, 5] });

  test('stridedCopy float32 and int32 (exact)', () => {
    for (const c of copyCases) {
      const src = randn(c.srcSize);
      const r = both([src, new Float32Array(sizeOf(c.shape))], (k, [s, o]) => k.stridedCopy(s, c.offset, c.strides, o, c.shape));
      assertExact(r.got[1], r.want[1], `stridedCopy ${c.what}`);
      const isrc = randInts(c.srcSize, 1000);
      const r2 = both([isrc, new Int32Array(sizeOf(c.shape))], (k, [s, o]) => k.stridedCopy(s, c.offset, c.strides, o, c.shape));
      assertExact(r2.got[1], r2.want[1], `stridedCopy int32 ${c.what}`);
    }
  });
  test('stridedAccumulate (exact, including overlapping views)', () => {
    for (const c of copyCases) {
      const n = sizeOf(c.shape);
      const src = randn(n);
      const out = randn(c.srcSize);
      const r = both([src, out], (k, [s, o]) => k.stridedAccumulate(s, o, c.offset, c.strides, c.shape));
      assertExact(r.got[1], r.want[1], `stridedAccumulate ${c.what}`);
    }
    // Broadcast gradient: [300, 200] summed into [200] and [300, 1].
    const g = randn(300 * 200);
    let r = both([g, randn(200)], (k, [s, o]) => k.stridedAccumulate(s, o, 0, [0, 1], [300, 200]));
    assertExact(r.got[1], r.want[1], 'accumulate over rows');
    r = both([g, randn(300)], (k, [s, o]) => k.stridedAccumulate(s, o, 0, [1, 0], [300, 200]));
    assertExact(r.got[1], r.want[1], 'accumulate over columns');
  });
  test('out-of-range views throw', () => {
    assert.throws(() => cpu.stridedCopy(st(new Float32Array(10)), 5, [1], st(new Float32Array(6)), [6]), /outside/);
    assert.throws(() => cpu.stridedAccumulate(st(new Float32Array(4)), st(new Float32Array(10)), 0, [4], [4]), /outside/);
  });
});

// ---------------------------------------------------------------- gather / scatter

describe('gather / scatterAdd', () => {
  const cases: GatherAttrs[] = [
    { outer: 1, n: 10, inner: 1, k: 25, idxBatched: false },
    { outer: 4, n: 10, inner: 1, k: 7, idxBatched: true },
    { outer: 1, n: 1000, inner: 64, k: 1568, idxBatched: false },   // embedding-like, above threshold
    { outer: 8, n: 196, inner: 512, k: 49, idxBatched: true },      // token selection per image
    { outer: 3, n: 5, inner: 3, k: 11, idxBatched: false },
    { outer: 2, n: 4, inner: 70000, k: 3, idxBatched: true },       // few rows, long inner
    { outer: 0, n: 4, inner: 3, k: 2, idxBatched: true },
  ];
  test('gather (exact, float32 and int32)', () => {
    for (const t of cases) {
      const idx = randInts((t.idxBatched ? t.outer : 1) * t.k, t.n);
      const x = randn(t.outer * t.n * t.inner);
      const r = both([x, idx, new Float32Array(t.outer * t.k * t.inner)], (k, [xs, is, ys]) => k.gather(xs, is, ys, t));
      assertExact(r.got[2], r.want[2], `gather ${JSON.stringify(t)}`);
      const xi = randInts(t.outer * t.n * t.inner, 100);
      const r2 = both([xi, idx, new Int32Array(t.outer * t.k * t.inner)], (k, [xs, is, ys]) => k.gather(xs, is, ys, t));
      assertExact(r2.got[2], r2.want[2], `gather int32 ${JSON.stringify(t)}`);
    }
  });
  test('scatterAdd (exact, duplicate indices)', () => {
    for (const t of cases) {
      const idx = randInts((t.idxBatched ? t.outer : 1) * t.k, t.n);
      const src = randn(t.outer * t.k * t.inner);
      const out = randn(t.outer * t.n * t.inner);
      const r = both([src, idx, out], (k, [s, is, o]) => k.scatterAdd(s, is, o, t));
      assertExact(r.got[2], r.want[2], `scatterAdd ${JSON.stringify(t)}`);
    }
  });
  test('out-of-range indices throw', () => {
    const t: GatherAttrs = { outer: 1, n: 3, inner: 2, k: 2, idxBatched: false };
    assert.throws(() => cpu.gather(st(new Float32Array(6)), st(Int32Array.from([0, 3])), st(new Float32Array(4)), t), /range/);
    assert.throws(() => cpu.scatterAdd(st(new Float32Array(4)), st(Int32Array.from([-1, 0])), st(new Float32Array(6)), t), /range/);
  });
});

// ---------------------------------------------------------------- softmax / layer norm

describe('softmax family', () => {
  const shapes: [number, number][] = [[1, 1], [3, 7], [100, 197], [512, 196], [4, 5000], [2, 100003]];
  test('softmax and softmaxBackward', () => {
    for (const [rows, cols] of shapes) {
      for (const scale of [1, 30]) {
        const x = randn(rows * cols, scale);
        const f = both([x, new Float32Array(rows * cols)], (k, [xs, ys]) => k.softmax(xs, ys, rows, cols));
        assertClose(f.got[1], f.want[1], `softmax [${rows}, ${cols}] scale ${scale}`);
        const y = f.want[1] as Float32Array, dy = randn(rows * cols);
        const b = both([y, dy, new Float32Array(rows * cols)], (k, [ys, gs, ds]) => k.softmaxBackward(ys, gs, ds, rows, cols));
        assertClose(b.got[2], b.want[2], `softmaxBackward [${rows}, ${cols}]`);
      }
    }
  });
  test('logSoftmax and logSoftmaxBackward', () => {
    for (const [rows, cols] of shapes) {
      for (const scale of [1, 30]) {
        const x = randn(rows * cols, scale);
        const f = both([x, new Float32Array(rows * cols)], (k, [xs, ys]) => k.logSoftmax(xs, ys, rows, cols));
        assertClose(f.got[1], f.want[1], `logSoftmax [${rows}, ${cols}] scale ${scale}`);
        const y = f.want[1] as Float32Array, dy = randn(rows * cols);
        const b = both([y, dy, new Float32Array(rows * cols)], (k, [ys, gs, ds]) => k.logSoftmaxBackward(ys, gs, ds, rows, cols));
        assertClose(b.got[2], b.want[2], `logSoftmaxBackward [${rows}, ${cols}]`);
      }
    }
  });
  test('masked rows (-inf entries)', () => {
    const rows = 6, cols = 9;
    const x = randn(rows * cols);
    for (let i = 0; i < x.length; i += 4) x[i] = -Infinity;
    for (const kind of ['softmax', 'logSoftmax'] as const) {
      const f = both([x, new Float32Array(rows * cols)], (k, [xs, ys]) => k[kind](xs, ys, rows, cols));
      assertClose(f.got[1], f.want[1], `${kind} masked`);
    }
  });
});

describe('layerNorm', () => {
  const shapes: [number, number][] = [[1, 1], [5, 17], [7, 768], [1568, 512], [3, 40000]];
  for (const affine of ['weight+bias', 'weight', 'bias', 'none'] as const) {
    test(`forward and backward, ${affine}`, () => {
      for (const [rows, cols] of shapes) {
        const x = randn(rows * cols, 2, 0.5);
        const w = affine.includes('weight') ? randn(cols, 0.5, 1) : null;
        const b = affine.includes('bias') || affine === 'weight+bias' ? randn(cols, 0.2) : null;
        const arrays: HostArray[] = [x, new Float32Array(rows * cols), new Float32Array(rows), new Float32Array(rows)];
        if (w) arrays.push(w);
        if (b) arrays.push(b);
        const f = both(arrays, (k, s) => {
          const ws = w ? s[4] : null, bs = b ? s[w ? 5 : 4] : null;
          k.layerNorm(s[0], ws, bs, s[1], s[2], s[3], rows, cols, 1e-6);
        });
        const what = `layerNorm [${rows}, ${cols}] ${affine}`;
        assertClose(f.got[1], f.want[1], what);
        assertClose(f.got[2], f.want[2], `${what} mean`);
        assertClose(f.got[3], f.want[3], `${what} rstd`);

        const dy = randn(rows * cols);
        const mean = f.want[2], rstd = f.want[3];
        // dweight/dbias start as garbage: they must be written, not accumulated.
        const bw: HostArray[] = [dy, x, mean, rstd, new Float32Array(rows * cols), randn(cols), randn(cols)];
        if (w) bw.push(w);
        const g = both(bw, (k, s) => k.layerNormBackward(s[0], s[1], w ? s[7] : null, s[2], s[3], s[4], s[5], s[6], rows, cols));
        assertClose(g.got[4], g.want[4], `${what} dx`);
        assertClose(g.got[5], g.want[5], `${what} dweight`);
        assertClose(g.got[6], g.want[6], `${what} dbias`);
        // Without dweight/dbias.
        const bw2: HostArray[] = [dy, x, mean, rstd, new Float32Array(rows * cols)];
        if (w) bw2.push(w);
        const g2 = both(bw2, (k, s) => k.layerNormBackward(s[0], s[1], w ? s[5] : null, s[2], s[3], s[4], null, null, rows, cols));
        assertClose(g2.got[4], g2.want[4], `${what} dx only`);
        // accumulate: dx holds another gradient, and the input gradient is added to it
        const prior = randn(rows * cols);
        const bw3: HostArray[] = [dy, x, mean, rstd, prior.slice(), randn(cols), randn(cols)];
        if (w) bw3.push(w);
        const g3 = both(bw3, (k, s) => k.layerNormBackward(s[0], s[1], w ? s[7] : null, s[2], s[3], s[4], s[5], s[6], rows, cols, true));
        assertClose(g3.got[4], g3.want[4], `${what} dx accumulated`);
        assertClose(g3.want[4], Float32Array.from(prior, (v, i) => v + g.want[4][i]), `${what} reference dx accumulated = prior + dx`);
        assertClose(g3.got[5], g.want[5], `${what} dweight with accumulate`);
      }
    });
  }
});

test('baseline, AVX2 and AVX-512 code paths agree with the reference', () => {
  const native = loadNative();
  const level = native.simdLevel();
  try {
    for (const lv of [0, 1, 2]) {
      const inForce = native.setSimdLevel(lv);
      const n = 40000, rows = 200, cols = 197;
      const x = randn(n, 3);
      for (const op of ['gelu', 'gelu_grad', 'erf', 'sigmoid'] as UnaryOp[]) {
        const r = both([x, new Float32Array(n)], (k, [xs, ys]) => k.unary(op, xs, ys));
        assertClose(r.got[1], r.want[1], `${op} at ISA level ${inForce}`);
      }
      const gb = both([x, randn(n), new Float32Array(n), new Float32Array(n)], (k, [xs, gs, ds, ys]) => k.geluBackward(xs, gs, ds, ys));
      assertClose(gb.got[2], gb.want[2], `geluBackward at ISA level ${inForce}`);
      assertClose(gb.got[3], gb.want[3], `geluBackward's gelu at ISA level ${inForce}`);
      // attention: register-tiled AVX-512 blocks at level 2 (D a multiple of 16), sgemm blocks below
      const at: AttentionAttrs = { B: 2, N: 37, H: 2, D: 32, scale: 32 ** -0.5, biasBatch: 1 };
      const qkv = randn(2 * 37 * 3 * 64), P = 2 * 2 * 37 * 37;
      const af = both([qkv, randn(2 * 37 * 37), new Float32Array(2 * 37 * 64), new Float32Array(P)], (k, s) => k.attention(s[0], s[1], s[2], s[3], at));
      assertClose(af.got[2], af.want[2], `attention at ISA level ${inForce}`);
      const ab = both([qkv, af.want[3], randn(2 * 37 * 64), new Float32Array(qkv.length), new Float32Array(P)],
        (k, s) => k.attentionBackward(s[0], s[1], s[2], s[3], s[4], at));
      assertClose(ab.got[3], ab.want[3], `attentionBackward at ISA level ${inForce}`);
      assertClose(ab.got[4], ab.want[4], `attentionBackward dlogits at ISA level ${inForce}`);
      const xs = randn(rows * cols, 4);
      const f = both([xs, new Float32Array(rows * cols)], (k, [a, o]) => k.softmax(a, o, rows, cols));
      assertClose(f.got[1], f.want[1], `softmax at ISA level ${inForce}`);
      const l = both([xs, new Float32Array(rows * cols)], (k, [a, o]) => k.logSoftmax(a, o, rows, cols));
      assertClose(l.got[1], l.want[1], `logSoftmax at ISA level ${inForce}`);
      const dy = randn(rows * cols);
      const b = both([l.want[1], dy, new Float32Array(rows * cols)], (k, [a, g, o]) => k.logSoftmaxBackward(a, g, o, rows, cols));
      assertClose(b.got[2], b.want[2], `logSoftmaxBackward at ISA level ${inForce}`);
      const step = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.05, biasCorrection1: 0.1, biasCorrection2: 0.002 };
      const ad = both([randn(n), randn(n, 0.1), randn(n, 0.01), randn(n, 1e-3).map(Math.abs)], (k, s) => k.adamw(s[0], s[1], s[2], s[3], step));
      for (const [i, what] of [[0, 'param'], [2, 'm'], [3, 'v']] as const) assertClose(ad.got[i], ad.want[i], `adamw ${what} at ISA level ${inForce}`);
    }
  } finally {
    native.setSimdLevel(level);
  }
});

test('the AVX-512 GELU kernels give the bits of the vectorised generic code (AVX2 level)', (t) => {
  const native = loadNative();
  const level = native.simdLevel();
  if (native.setSimdLevel(2) < 2) {
    native.setSimdLevel(level);
    t.skip('this CPU has no AVX-512');
    return;
  }
  try {
    const n = 7 * 28573; // rows of 7 for the fused column sums: every row ends in a masked tail
    const x = new Float32Array(n);
    for (let i = 0; i < n; i++) x[i] = i < 160001 ? -20 + (40 * i) / 160000 : 6 * Math.sin(i * 12.9898);
    x.set([NaN, Infinity, -Infinity, -0, 1e-30, -1e-30, 13.2, -13.2, 14.2, -14.2], 0);
    const dy = Float32Array.from(x, (_, i) => Math.cos(i));
    const run = (lv: number) => {
      native.setSimdLevel(lv);
      const g = new Float32Array(n), gg = new Float32Array(n), dx = new Float32Array(n), y = new Float32Array(n), sums = new Float32Array(7);
      native.unary(native.unaryOps.indexOf('gelu'), x, g);
      native.unary(native.unaryOps.indexOf('gelu_grad'), x, gg);
      native.geluBackward(x, dy, dx, y, sums);
      return { g, gg, dx, y, sums };
    };
    const a = run(1), b = run(2);
    for (const k of ['g', 'gg', 'dx', 'y', 'sums'] as const) {
      const i = a[k].findIndex((v, j) => !Object.is(v, b[k][j])); // NaN equals NaN here, whatever its sign bit
      assert.equal(i, -1, `${k} differs at ${i}: x ${x[i]}, AVX2 ${a[k][i]}, AVX-512 ${b[k][i]}`);
    }
  } finally {
    native.setSimdLevel(level);
  }
});

// ---------------------------------------------------------------- fused attention and GELU backward

describe('geluBackward', () => {
  test('sizes across the threading threshold', () => {
    for (const n of SIZES) {
      const { got, want } = both([randn(n, 3), randn(n), new Float32Array(n)], (k, [xs, gs, ds]) => k.geluBackward(xs, gs, ds));
      assertClose(got[2], want[2], `geluBackward n=${n}`);
      // in place (dx = dy) with the activation written too
      const r = both([randn(n, 3), randn(n), new Float32Array(n)], (k, [xs, gs, ys]) => k.geluBackward(xs, gs, gs, ys));
      assertClose(r.got[1], r.want[1], `geluBackward in place n=${n}`);
      assertClose(r.got[2], r.want[2], `geluBackward gelu(x) n=${n}`);
    }
  });
  test('column sums of dx (the fused bias gradient): reference values, and bitwise those of reduce afterwards', () => {
    for (const [rows, cols] of [[1, 1], [3, 7], [100, 300], [392, 2048], [1030, 96]]) {
      const n = rows * cols;
      const r = both([randn(n, 3), randn(n), new Float32Array(n), new Float32Array(cols)],
        (k, [xs, gs, ys, cs]) => k.geluBackward(xs, gs, gs, ys, cs));
      assertClose(r.got[1], r.want[1], `geluBackward dx [${rows}x${cols}]`);
      assertClose(r.got[3], r.want[3], `geluBackward column sums [${rows}x${cols}]`);
      const sums = new Float32Array(cols);
      cpu.reduce('sum', st(r.got[1]), st(sums), 1, rows, cols);
      assertExact(r.got[3], sums, `fused column sums vs reduce [${rows}x${cols}]`);
    }
    assert.throws(() => cpu.geluBackward(st(randn(10)), st(randn(10)), st(new Float32Array(10)), null, st(new Float32Array(3))),
      /not rows of colSums' length/);
  });
});

describe('attention', () => {
  // [B, N, H, D, biasBatch]: one block, odd sizes, fewer blocks than threads, many blocks, shared and per-sample bias
  const cases: Array<[number, number, number, number, number]> = [
    [1, 1, 1, 1, 0], [1, 5, 1, 3, 1], [2, 7, 3, 4, 0], [2, 7, 3, 4, 1], [3, 13, 2, 8, 3], [4, 49, 3, 16, 0], [2, 50, 4, 32, 2],
  ];
  for (const [B, N, H, D, biasBatch] of cases) {
    test(`B=${B} N=${N} H=${H} D=${D} bias=${biasBatch}`, () => {
      const t: AttentionAttrs = { B, N, H, D, scale: D ** -0.5, biasBatch };
      const C = H * D;
      const qkv = randn(B * N * 3 * C, 1.5);
      const bias = biasBatch ? randn(biasBatch * H * N * N) : new Float32Array(0);
      const f = both([qkv, bias, new Float32Array(B * N * C), new Float32Array(B * H * N * N)],
        (k, s) => k.attention(s[0], biasBatch ? s[1] : null, s[2], s[3], t));
      assertClose(f.got[3], f.want[3], 'probs');
      assertClose(f.got[2], f.want[2], 'out');
      const dout = randn(B * N * C);
      for (const withLogits of [false, true]) {
        const b = both([qkv, f.want[3], dout, new Float32Array(qkv.length), new Float32Array(B * H * N * N)],
          (k, s) => k.attentionBackward(s[0], s[1], s[2], s[3], withLogits ? s[4] : null, t));
        assertClose(b.got[3], b.want[3], `dqkv${withLogits ? ' (with dlogits)' : ''}`);
        if (withLogits) assertClose(b.got[4], b.want[4], 'dlogits');
      }
    });
  }
  test('masked logits (-inf bias) and one thread', () => {
    const n0 = getCpuThreads();
    try {
      setCpuThreads(1);
      // D = 4: the sgemm blocks; D = 16, N = 37: the AVX-512 blocks with a masked row tail
      for (const [B, N, H, D] of [[2, 6, 2, 4], [2, 37, 2, 16]]) {
        const t: AttentionAttrs = { B, N, H, D, scale: 0.5, biasBatch: 1 };
        const bias = randn(H * N * N).map((v, i) => (i % 7 === 3 ? -Infinity : v));
        const f = both([randn(B * N * 3 * H * D, 3), bias, new Float32Array(B * N * H * D), new Float32Array(B * H * N * N)],
          (k, s) => k.attention(s[0], s[1], s[2], s[3], t));
        assertClose(f.got[3], f.want[3], `probs with -inf, D=${D}`);
        assertClose(f.got[2], f.want[2], `out with -inf, D=${D}`);
      }
    } finally {
      setCpuThreads(n0);
    }
  });
  test('without a probs output (inference) the output is the same', () => {
    for (const [B, N, H, D] of [[2, 7, 3, 4], [2, 37, 2, 16]]) {
      const t: AttentionAttrs = { B, N, H, D, scale: D ** -0.5, biasBatch: 1 };
      const qkv = randn(B * N * 3 * H * D), bias = randn(H * N * N);
      const f = both([qkv, bias, new Float32Array(B * N * H * D)], (k, s) => k.attention(s[0], s[1], s[2], null, t));
      const withProbs = both([qkv, bias, new Float32Array(B * N * H * D), new Float32Array(B * H * N * N)], (k, s) => k.attention(s[0], s[1], s[2], s[3], t));
      assertClose(f.got[2], f.want[2], `out without probs, D=${D}`);
      assertClose(f.got[2], withProbs.got[2], `out without vs with probs, D=${D}`);
    }
  });
  test('addon validates attention sizes', () => {
    const native = loadNative();
    assert.throws(() => native.attention(new Float32Array(10), null, new Float32Array(4), new Float32Array(4), 1, 2, 1, 2, 1, 0), /qkv size/);
    assert.throws(() => native.attention(new Float32Array(12), new Float32Array(3), new Float32Array(4), new Float32Array(4), 1, 2, 1, 2, 1, 1), /bias/);
  });
});

// ---------------------------------------------------------------- optimiser

test('adamw (several steps)', () => {
  for (const n of [1, 10, 1000, 100003]) {
    const p = randn(n), m = new Float32Array(n), v = new Float32Array(n);
    const a = [p.slice(), m.slice(), v.slice()], b = [p.slice(), m.slice(), v.slice()];
    for (let step = 1; step <= 4; step++) {
      const g = randn(n, 0.1);
      const t = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.05,
        biasCorrection1: 1 - 0.9 ** step, biasCorrection2: 1 - 0.999 ** step };
      ref.adamw(st(a[0]), st(g), st(a[1]), st(a[2]), t);
      cpu.adamw(st(b[0]), st(g), st(b[1]), st(b[2]), t);
    }
    assertClose(b[0], a[0], `adamw param n=${n}`);
    assertClose(b[1], a[1], `adamw m n=${n}`);
    assertClose(b[2], a[2], `adamw v n=${n}`);
  }
});

// ---------------------------------------------------------------- backend plumbing

describe('backend', () => {
  test('createCpuBackend storage round trip and name', () => {
    const be = createCpuBackend();
    assert.equal(be.name, 'cpu');
    const before = be.liveBuffers();
    const s = be.upload(Float32Array.from([1, 2, 3]));
    const o = be.alloc('float32', 3);
    be.kernels.unary('square', s, o);
    assert.deepEqual(Array.from(be.download(o)), [1, 4, 9]);
    assert.equal(be.liveBuffers(), before + 2);
    be.free(s);
    be.free(o);
    assert.equal(be.liveBuffers(), before);
  });
  test('other dtypes go to the reference kernels', () => {
    const x64 = Float64Array.from([0.5, -1.5, 2.25]);
    const r = both([x64, new Float64Array(3)], (k, [xs, ys]) => k.unary('gelu', xs, ys));
    assertExact(r.got[1], r.want[1], 'float64 gelu');
    const i32 = Int32Array.from([3, -4, 5]);
    const r2 = both([i32, i32, new Int32Array(3)], (k, [a, b, o]) => k.binary('mul', a, [1], b, [1], o, [3]));
    assertExact(r2.got[2], r2.want[2], 'int32 mul');
    const r3 = both([Float32Array.from([1.7, -2.7, 3]), new Int32Array(3)], (k, [a, o]) => k.cast(a, o));
    assertExact(r3.got[1], r3.want[1], 'cast');
    const r4 = both([Float64Array.from([1, 2, 3, 4]), new Float64Array(4)], (k, [a, o]) => k.stridedCopy(a, 0, [1, 2], o, [2, 2]));
    assertExact(r4.got[1], r4.want[1], 'float64 stridedCopy');
  });
  test('thread count control, results independent of thread count', () => {
    const n0 = getCpuThreads();
    const x = randn(1 << 20);
    const run = () => {
      const y = new Float32Array(1);
      cpu.reduce('sum', st(x), st(y), 1, x.length, 1);
      return y[0];
    };
    setCpuThreads(1);
    assert.equal(getCpuThreads(), 1);
    const one = run();
    setCpuThreads(Math.max(2, n0));
    const many = run();
    assert.ok(Math.abs(one - many) <= 1e-6 * Math.max(1, Math.abs(one)), `sum with 1 thread ${one} vs ${many}`);
    setCpuThreads(n0);
    assert.equal(getCpuThreads(), n0);
  });
  test('matmul with element offsets (a row block of larger tensors)', () => {
    for (const [tA, tB, beta] of [[false, true, 0], [false, true, 1], [true, false, 0], [false, false, 1]] as Array<[boolean, boolean, number]>) {
      const M = 5, N = 6, K = 7;
      const t: MatmulAttrs = { batch: 2, M, N, K, transA: tA, transB: tB, strideA: M * K, strideB: 0, alpha: 0.5, beta, offsetA: 11, offsetB: 3, offsetC: 9 };
      const r = both([randn(11 + 2 * M * K + 4), randn(3 + K * N + 2), randn(9 + 2 * M * N + 5)], (k, s) => k.matmul(s[0], s[1], s[2], t));
      assertClose(r.got[2], r.want[2], `matmul offsets tA=${tA} tB=${tB} beta=${beta}`);
      assertExact(r.got[2].subarray(0, 9), r.want[2].subarray(0, 9), 'matmul offsets: elements before offsetC untouched');
    }
    assert.throws(() => loadNative().matmul(new Float32Array(6), new Float32Array(6), new Float32Array(4), 1, 2, 2, 3, false,
      false, 0, 0, 1, 0, 0, 0, 1), /out is too small/);
  });
  test('typed-array views with a byte offset', () => {
    const bufA = randn(1000), bufB = randn(1000), bufC = new Float32Array(1000);
    const a = bufA.subarray(13, 13 + 6 * 7), b = bufB.subarray(101, 101 + 7 * 5), c = bufC.subarray(7, 7 + 30);
    const t: MatmulAttrs = { batch: 1, M: 6, N: 5, K: 7, transA: false, transB: false, strideA: 0, strideB: 0, alpha: 1, beta: 0 };
    const want = new Float32Array(30);
    ref.matmul(st(a), st(b), st(want), t);
    cpu.matmul(st(a), st(b), st(c), t);
    assertClose(c, want, 'matmul on views');
    assert.ok(bufC.subarray(0, 7).every((v) => v === 0) && bufC.subarray(37).every((v) => v === 0), 'wrote outside the view');
    const x = bufA.subarray(5, 905), y = new Float32Array(2000).subarray(50, 950), yr = new Float32Array(900);
    cpu.unary('gelu', st(x), st(y));
    ref.unary('gelu', st(x), st(yr));
    assertClose(y, yr, 'gelu on views');
    const i32 = Int32Array.from([5, 6, 7, 8, 9, 10]).subarray(2), o32 = new Int32Array(4);
    cpu.stridedCopy(st(i32), 3, [-1], st(o32), [4]);
    assert.deepEqual(Array.from(o32), [10, 9, 8, 7]);
  });
  test('addon validates sizes', () => {
    const native = loadNative();
    assert.throws(() => native.unary(0, new Float32Array(3), new Float32Array(4)), /sizes differ/);
    assert.throws(() => native.unary(999, new Float32Array(3), new Float32Array(3)), /unknown unary op/);
    assert.throws(() => native.matmul(new Float32Array(5), new Float32Array(6), new Float32Array(4), 1, 2, 2, 3, false,
      false, 6, 6, 1, 0), /too small/);
    assert.throws(() => native.softmax(new Float64Array(4) as unknown as Float32Array, new Float32Array(4), 2, 2), /Float32Array/);
  });
});
