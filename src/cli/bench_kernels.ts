// `itpn bench gemm` and `itpn bench ops`: our kernels beside PyTorch CPU (bench/torch_ops.py) in the same run.
import { spawnSync } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Backend } from '../engine/backend';
import { benchGemm, benchOps } from '../bench/ops_bench';
import { loadNative, packageRoot } from '../backends/cpu/binding';
import { cliPrecision, createBackend } from './backend_choice';

export interface BenchKernelOptions {
  backend: string;
  threads?: number;
  python: string;
  torch: boolean;
  json: boolean;
  quick: boolean;
}

function torchOps(o: BenchKernelOptions, threads: number): Record<string, number> | { error: string } {
  if (!o.torch) return { error: 'skipped (--no-torch)' };
  const script = path.join(packageRoot(), 'bench', 'torch_ops.py');
  const r = spawnSync(o.python, [script, '--threads', String(threads), '--json', ...(o.quick ? ['--quick'] : [])], { encoding: 'utf8' });
  if (r.status !== 0) return { error: `PyTorch reference failed (${o.python}): ${(r.stderr || r.error?.message || '').trim().split('\n').pop()}` };
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

/**
 * On the cpu backend in float32, the same GEMMs on the other linked library (OpenBLAS when oneDNN is in use, and vice
 * versa); bf16 exists only on oneDNN.
 */
function otherLibraryGemm(o: BenchKernelOptions, backend: Backend): { library: string; gflops: number[] } | null {
  if (o.backend !== 'cpu' || cliPrecision() !== 'float32') return null;
  const native = loadNative(), current = native.getGemmLibrary();
  const other = current === 'onednn' ? 'openblas' : 'onednn';
  native.setGemmLibrary(other);
  try {
    return { library: other, gflops: benchGemm(backend, o.quick ? 200 : 1000).map((g) => g.gflops) };
  } finally {
    native.setGemmLibrary(current);
  }
}

export function benchGemmCommand(o: BenchKernelOptions): number {
  const threads = o.threads ?? os.availableParallelism();
  const library = o.backend === 'cpu' ? loadNative().getGemmLibrary() : null;
  const backend = createBackend(o.backend, threads);
  const ours = benchGemm(backend, o.quick ? 200 : 1000);
  const other = otherLibraryGemm(o, backend);
  const torch = torchOps(o, threads);
  const rows = ours.map((g, i) => {
    const tms = (torch as Record<string, number>)[`${g.name}_ms`];
    return { ...g, library, ...(other ? { [`gflops_${other.library}`]: other.gflops[i] } : {}),
      torch_ms: tms ?? null, torch_gflops: tms ? (2 * g.m * g.n * g.k) / tms / 1e6 : null, ratio: tms ? tms / g.ms : null };
  });
  if (o.json) console.log(JSON.stringify({ backend: o.backend, precision: cliPrecision(), threads, cpu: os.cpus()[0]?.model, gemm: rows, torch_error: 'error' in torch ? torch.error : undefined }));
  else {
    const precision = cliPrecision();
    console.log(`GEMM on ${o.backend}${library ? ` (${library}, ${precision}; set ITPN_GEMM to choose)` : ''}, ${threads} threads, ${os.cpus()[0]?.model}` +
      (precision !== 'float32' && o.torch ? ' (PyTorch side: float32)' : ''));
    rows.forEach((r, i) => console.log(`  ${r.name.padEnd(12)} ${r.m}×${r.n}×${r.k}  ${r.gflops.toFixed(1)} GFLOP/s (${r.ms.toFixed(2)} ms)` +
      (other ? `   ${other.library} ${other.gflops[i].toFixed(1)} GFLOP/s` : '') +
      (r.torch_gflops ? `   PyTorch ${r.torch_gflops.toFixed(1)} GFLOP/s  ratio ${r.ratio!.toFixed(2)}×` : '')));
    if ('error' in torch) console.log(`  PyTorch: ${torch.error}`);
  }
  return 0;
}

export function benchOpsCommand(o: BenchKernelOptions): number {
  const threads = o.threads ?? os.availableParallelism();
  const ours = benchOps(createBackend(o.backend, threads), o.quick ? 200 : 500);
  const torch = torchOps(o, threads);
  const rows = Object.entries(ours).map(([name, ms]) => {
    const tms = (torch as Record<string, number>)[name];
    return { name: name.replace(/_ms$/, ''), ms, torch_ms: tms ?? null, ratio: tms ? tms / ms : null };
  });
  if (o.json) console.log(JSON.stringify({ backend: o.backend, threads, cpu: os.cpus()[0]?.model, ops: rows, torch_version: (torch as Record<string, unknown>).torch_version, torch_error: 'error' in torch ? torch.error : undefined }));
  else {
    console.log(`forward + backward on ${o.backend}, ${threads} threads (ratio = PyTorch ms / ours ms; > 1 is faster)`);
    for (const r of rows) console.log(`  ${r.name.padEnd(10)} ours ${r.ms.toFixed(2)} ms` + (r.torch_ms ? `   PyTorch ${r.torch_ms.toFixed(2)} ms   ratio ${r.ratio!.toFixed(2)}×` : ''));
    if ('error' in torch) console.log(`  PyTorch: ${torch.error}`);
  }
  return 0;
}
