// `itpn bench train` and `itpn bench infer`: our pixel pre-training step (or classifier forward) and the project's
// PyTorch reference (bench/torch_train_step.py, the same model written from the spec) timed in one run on the same
// machine, one after the other, each in its own process so each peak resident memory is its own; medians, ratio.
// With --rounds R the two sides alternate R times (the side that goes first swaps each round, so a drift of the
// machine's speed during the run hits both alike) and the report gives each side's median and every round's ratio.
// ITPN_PROFILE=1 also prints our per-kernel profile of the timed steps (to stderr); ITPN_PROFILE=cpu times kernels
// with CPU time instead of the wall clock (use with --threads 1 on a busy machine).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { BenchJob, BenchJobResult } from '../bench/train_step';
import { packageRoot } from '../backends/cpu/binding';
import { median } from '../bench/median';
import { taskConfig } from '../models/itpn/factory';
import { cliPrecision } from './backend_choice';

/** The bench job's fields as command-line options (threads optional), plus the PyTorch side and output format. */
export interface BenchTrainOptions extends Omit<BenchJob, 'kind' | 'threads' | 'profile'> {
  threads?: number;
  rounds?: number;
  python: string;
  torch: boolean;
  json: boolean;
}

interface TorchResult {
  images_per_s: number;
  step_ms_median: number;
  torch_version?: string;
  peak_rss_mib?: number;
}

const lastLine = (s: string) => s.trim().split('\n').pop()!;
const tail = (s: string) => s.trim().split('\n').slice(-3).join(' ');

function runOurs(job: BenchJob): BenchJobResult {
  const script = path.join(__dirname, '..', 'bench', 'train_step.js');
  const r = spawnSync(process.execPath, [...process.execArgv, script, JSON.stringify(job)], { encoding: 'utf8', maxBuffer: 1 << 26, stdio: ['ignore', 'pipe', 'inherit'] });
  if (r.status !== 0) throw new Error(`our side of the benchmark failed (exit status ${r.status}${r.signal ? `, ${r.signal}` : ''}); its message is above`);
  return JSON.parse(lastLine(r.stdout));
}

/** Runs bench/torch_train_step.py under a wrapper that reports the interpreter's peak RSS (getrusage). */
function runTorch(o: BenchTrainOptions, threads: number, extra: string[]): { result: TorchResult | null; error: string | null } {
  const script = path.join(packageRoot(), 'bench', 'torch_train_step.py');
  if (!fs.existsSync(script)) return { result: null, error: `${script} not found` };
  const wrapper = [
    'import json, resource, runpy, sys',
    'sys.argv = sys.argv[1:]',
    'try:',
    '    runpy.run_path(sys.argv[0], run_name="__main__")',
    'finally:',
    '    sys.stdout.flush()',
    '    print(json.dumps({"peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}))',
  ].join('\n');
  const args = ['-c', wrapper, script, '--arch', o.arch, '--img-size', String(o.imgSize), '--batch', String(o.batch),
    '--steps', String(o.steps), '--warmup', String(o.warmup), '--threads', String(threads), '--json', ...extra];
  const r = spawnSync(o.python, args, { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) return { result: null, error: `PyTorch reference failed (${o.python}): ${tail(r.stderr || r.error?.message || '')}` };
  const lines = r.stdout.trim().split('\n');
  const rss = JSON.parse(lines[lines.length - 1]) as { peak_rss_mib: number };
  return { result: { ...(JSON.parse(lines[lines.length - 2]) as TorchResult), peak_rss_mib: rss.peak_rss_mib }, error: null };
}

/** One side's rounds as one result: medians over the rounds (peak RSS: the largest). */
function medianRound<T extends { images_per_s: number; step_ms_median: number; step_cpu_ms_median?: number; peak_rss_mib?: number }>(runs: T[]): T {
  return {
    ...runs[0],
    images_per_s: median(runs.map((r) => r.images_per_s)),
    step_ms_median: median(runs.map((r) => r.step_ms_median)),
    ...(runs[0].step_cpu_ms_median === undefined ? {} : { step_cpu_ms_median: median(runs.map((r) => r.step_cpu_ms_median!)) }),
    peak_rss_mib: Math.max(...runs.map((r) => r.peak_rss_mib ?? 0)),
  };
}

function benchCommand(kind: 'train' | 'infer', o: BenchTrainOptions): number {
  // an unknown architecture or an input size the model cannot take fails here, before either side starts
  taskConfig(o.arch, kind === 'train' ? 'pixel' : 'classify', { img_size: o.imgSize });
  const threads = o.threads ?? os.availableParallelism();
  const rounds = Math.max(1, o.rounds ?? 1);
  const env = process.env.ITPN_PROFILE;
  const profile = !env || env === '0' ? null : env === 'cpu' ? 'cpu' : 'wall';
  // with --precision bf16 the peer runs under torch.autocast(bfloat16), the like-for-like comparison
  const precision = cliPrecision();
  const autocast = precision === 'bf16' ? ['--autocast-bf16'] : [];
  const oursRuns: BenchJobResult[] = [], torchRuns: TorchResult[] = [];
  let torchError: string | null = null, profileText: string | undefined;
  const runOursOnce = () => {
    const r = runOurs({ kind, arch: o.arch, imgSize: o.imgSize, batch: o.batch, steps: o.steps, warmup: o.warmup, backend: o.backend, threads, profile: oursRuns.length === 0 ? profile : null });
    profileText ??= r.profile;
    oursRuns.push(r);
  };
  const runTorchOnce = () => {
    if (!o.torch || torchError) return;
    const t = runTorch(o, threads, [...(kind === 'infer' ? ['--variant', 'classify', '--forward-only'] : []), ...autocast]);
    if (t.result) torchRuns.push(t.result);
    else torchError = t.error;
  };
  for (let r = 0; r < rounds; r++) {
    if (r % 2 === 0) { runOursOnce(); runTorchOnce(); } else { runTorchOnce(); runOursOnce(); }
  }
  const ours = medianRound(oursRuns);
  const torch = torchRuns.length === rounds ? medianRound(torchRuns) : null;
  const roundRatios = torch ? oursRuns.map((r, i) => r.images_per_s / torchRuns[i].images_per_s) : [];
  const what = kind === 'train' ? 'pixel pre-training step (forward + backward + AdamW)' : 'classifier forward (eval, no autograd)';
  const gemm = ours.gemm; // as the addon in the child reported it
  const result = {
    bench: kind, arch: o.arch, img_size: o.imgSize, batch: o.batch, steps: o.steps, rounds, threads, cpu: os.cpus()[0]?.model,
    itpn: { backend: o.backend, gemm, precision, images_per_s: ours.images_per_s, step_ms_median: ours.step_ms_median, step_cpu_ms_median: ours.step_cpu_ms_median, peak_rss_mib: ours.peak_rss_mib },
    torch: torch ? { images_per_s: torch.images_per_s, step_ms_median: torch.step_ms_median, peak_rss_mib: torch.peak_rss_mib, torch_version: torch.torch_version } : null,
    ratio: torch ? ours.images_per_s / torch.images_per_s : null,
    round_ratios: rounds > 1 && torch ? roundRatios : undefined,
    peak_rss_ratio: torch?.peak_rss_mib ? ours.peak_rss_mib / torch.peak_rss_mib : null,
    torch_error: torchError,
  };
  if (profileText) console.error(profileText);
  if (o.json) console.log(JSON.stringify(result));
  else {
    const over = rounds > 1 ? `, median of ${rounds} alternating rounds` : '';
    console.log(`${what}, ${o.arch} ${o.imgSize}px batch ${o.batch}, ${threads} threads${over}, ${result.cpu}`);
    console.log(`  itpn (${o.backend}${gemm ? ', ' + gemm + ' GEMM' : ''}, ${precision})  ${ours.images_per_s.toFixed(2)} img/s  (median step ${ours.step_ms_median.toFixed(1)} ms over ${o.steps}, CPU ${ours.step_cpu_ms_median.toFixed(1)} ms)  peak RSS ${ours.peak_rss_mib.toFixed(0)} MiB`);
    if (torch) console.log(`  PyTorch ${torch.torch_version ?? ''}  ${torch.images_per_s.toFixed(2)} img/s  (median step ${torch.step_ms_median.toFixed(1)} ms)  peak RSS ${torch.peak_rss_mib?.toFixed(0)} MiB`);
    if (torch) console.log(`  ratio itpn/PyTorch  ${result.ratio!.toFixed(2)}× images/s, ${result.peak_rss_ratio?.toFixed(2)}× peak memory`);
    if (rounds > 1 && torch) console.log(`  per round  ${roundRatios.map((x) => x.toFixed(2) + '×').join(' ')}`);
    if (torchError) console.log(`  PyTorch reference not run: ${torchError}`);
  }
  return 0;
}

export function benchTrainCommand(o: BenchTrainOptions): number {
  return benchCommand('train', o);
}

export function benchInferCommand(o: BenchTrainOptions): number {
  return benchCommand('infer', o);
}
