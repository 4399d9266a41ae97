// Opt-in kernel profiler (ITPN_PROFILE=1 on `itpn bench train|infer`): wraps every kernel of a backend with a
// timer keyed by kernel name and shape class, and also times storage allocation. Kernels are synchronous, so the
// time of a call is the kernel's own time. Whatever the step spends outside kernels (graph bookkeeping, JS glue)
// is the step time minus the kernel total. ITPN_PROFILE=cpu times with the process's CPU time instead of the wall
// clock: with --threads 1 that is the kernel's own work even while other processes compete for the cores.
import type { Backend, Kernels, MatmulAttrs } from '../engine/backend';

export interface ProfileRow {
  kernel: string;
  shape: string;
  calls: number;
  total_ms: number;
}

function dims(xs: number[]): string {
  return xs.join('×');
}

/** A short description of the call's shape, so calls of one layer type group together. */
function shapeClass(name: string, args: unknown[]): string {
  switch (name) {
    case 'matmul': {
      const t = args[3] as MatmulAttrs;
      return `${t.batch}×[${t.M}×${t.N}×${t.K}]${t.transA ? ' tA' : ''}${t.transB ? ' tB' : ''}${t.beta ? ' +C' : ''}`;
    }
    case 'linear': return `[${args[5]}×${args[7]}×${args[6]}]${args[2] ? ' +b' : ''}${args[3] ? ' +res' : ''}`;
    case 'unary': return `${args[0]} n=${(args[1] as { size: number }).size}`;
    case 'binary': {
      const sa = args[2] as number[], sb = args[4] as number[], shape = args[6] as number[];
      const bc = sa.some((s) => s === 0) || sb.some((s) => s === 0) ? ' bcast' : '';
      return `${args[0]} [${dims(shape)}]${bc}`;
    }
    case 'reduce': return `${args[0]} [${args[3]}, ${args[4]}, ${args[5]}]`;
    case 'stridedCopy':
    case 'stridedAccumulate': return `[${dims(args[4] as number[])}]`;
    case 'softmax':
    case 'logSoftmax':
    case 'softmaxBackward':
    case 'logSoftmaxBackward': {
      const i = name.endsWith('Backward') ? 3 : 2;
      return `[${args[i]}, ${args[i + 1]}]`;
    }
    case 'layerNorm': return `[${args[6]}, ${args[7]}]`;
    case 'layerNormBackward': return `[${args[8]}, ${args[9]}]`;
    default: {
      const sizes = args.filter((a): a is { size: number } => typeof a === 'object' && a !== null && 'size' in a && 'dtype' in a);
      return sizes.length ? `n=${sizes[sizes.length - 1].size}` : '';
    }
  }
}

export interface Profiler {
  backend: Backend;
  reset(): void;
  rows(): ProfileRow[];
  /** Highest number of bytes held by live storages since the last reset. */
  peakLiveBytes(): number;
}

/** Milliseconds of CPU time used by this process (all threads), for contention-free timing with one thread. */
export function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** A backend whose kernels (and alloc) are timed; storage is shared with the wrapped backend. */
export function profileBackend(inner: Backend, clock: () => number = () => performance.now()): Profiler {
  const acc = new Map<string, ProfileRow>();
  const note = (kernel: string, shape: string, ms: number) => {
    const key = kernel + '|' + shape;
    let r = acc.get(key);
    if (!r) acc.set(key, (r = { kernel, shape, calls: 0, total_ms: 0 }));
    r.calls++;
    r.total_ms += ms;
  };
  let live = 0, peak = 0;
  const bytes = (s: { dtype: string; size: number }) => s.size * (s.dtype === 'float64' ? 8 : 4);
  const kernels = {} as Record<string, unknown>;
  for (const [name, fn] of Object.entries(inner.kernels) as Array<[string, (...a: unknown[]) => unknown]>) {
    kernels[name] = (...args: unknown[]) => {
      const t0 = clock();
      const r = fn(...args);
      note(name, shapeClass(name, args), clock() - t0);
      return r;
    };
  }
  const backend: Backend = {
    ...inner,
    name: inner.name,
    alloc: (dtype, size) => {
      const t0 = clock();
      const s = inner.alloc(dtype, size);
      note('alloc', size >= 1 << 20 ? '≥1M' : size >= 1 << 14 ? '16k–1M' : '<16k', clock() - t0);
      live += bytes(s);
      peak = Math.max(peak, live);
      return s;
    },
    upload: (data) => {
      const s = inner.upload(data);
      live += bytes(s);
      peak = Math.max(peak, live);
      return s;
    },
    free: (s) => {
      live -= bytes(s);
      inner.free(s);
    },
    kernels: kernels as unknown as Kernels,
  };
  return {
    backend,
    reset: () => {
      acc.clear();
      peak = live;
    },
    rows: () => [...acc.values()].sort((a, b) => b.total_ms - a.total_ms),
    peakLiveBytes: () => peak,
  };
}

/** Floating-point operations of all calls of a matmul or linear row (2·batch·M·N·K each), 0 for other kernels. */
function gemmFlops(r: ProfileRow): number {
  const m = r.kernel === 'matmul' || r.kernel === 'linear' ? /^(?:(\d+)×)?\[(\d+)×(\d+)×(\d+)\]/.exec(r.shape) : null;
  return m ? 2 * Number(m[1] ?? 1) * Number(m[2]) * Number(m[3]) * Number(m[4]) * r.calls : 0;
}

/** A table of the top rows and a per-kernel summary; times are per step (divided by `steps`). */
export function formatProfile(rows: ProfileRow[], steps: number, stepMs: number, top = Number(process.env.ITPN_PROFILE_TOP ?? 40)): string {
  const lines: string[] = [];
  const total = rows.reduce((p, r) => p + r.total_ms, 0) / steps;
  const pct = (ms: number) => ((100 * ms) / stepMs).toFixed(1).padStart(5);
  lines.push(`kernel time ${total.toFixed(1)} ms of a ${stepMs.toFixed(1)} ms step (${pct(total)}%); outside kernels ${(stepMs - total).toFixed(1)} ms`);
  const byKernel = new Map<string, { calls: number; ms: number }>();
  for (const r of rows) {
    const k = r.kernel + (r.kernel === 'unary' || r.kernel === 'binary' || r.kernel === 'reduce' ? ':' + r.shape.split(' ')[0] : '');
    const e = byKernel.get(k) ?? { calls: 0, ms: 0 };
    e.calls += r.calls;
    e.ms += r.total_ms;
    byKernel.set(k, e);
  }
  lines.push('per kernel (ms/step, % of step, calls/step):');
  for (const [k, e] of [...byKernel.entries()].sort((a, b) => b[1].ms - a[1].ms)) {
    lines.push(`  ${k.padEnd(24)} ${(e.ms / steps).toFixed(2).padStart(9)} ${pct(e.ms / steps)}%  ${(e.calls / steps).toFixed(0).padStart(6)}`);
  }
  const matmulFlops = rows.reduce((p, r) => p + gemmFlops(r), 0) / steps;
  const matmulMs = ['matmul', 'linear'].reduce((p, k) => p + (byKernel.get(k)?.ms ?? 0), 0);
  if (matmulMs > 0) lines.push(`GEMMs (matmul, linear): ${(matmulFlops / 1e9).toFixed(1)} GFLOP per step in ${(matmulMs / steps).toFixed(0)} ms, ${(matmulFlops / (matmulMs / steps) / 1e6).toFixed(0)} GFLOP/s`);
  lines.push(`top ${top} kernel × shape (ms/step, % of step, calls/step, µs/call[, GFLOP/s]):`);
  for (const r of rows.slice(0, top)) {
    const f = gemmFlops(r);
    lines.push(`  ${(r.kernel + ' ' + r.shape).padEnd(60)} ${(r.total_ms / steps).toFixed(2).padStart(9)} ${pct(r.total_ms / steps)}%  ` +
      `${(r.calls / steps).toFixed(0).padStart(5)}  ${((1000 * r.total_ms) / r.calls).toFixed(0).padStart(7)}` +
      (f > 0 ? `  ${(f / r.total_ms / 1e6).toFixed(0).padStart(5)}` : ''));
  }
  return lines.join('\n');
}
