// Signals arriving while oneDNN's JIT sgemm runs must not corrupt the heap (native/signals.h): before the fix, a
// JS signal handler receiving a signal every millisecond, or `node --cpu-prof` sampling the main thread, crashed a
// process running GEMMs within a second (SIGSEGV, or glibc's "corrupted size vs. prev_size" abort). Each case runs
// GEMMs in a child process for a second and requires it to finish them and exit normally.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { addonPath } from '../../../src/backends/cpu/binding';

/** Child program: oneDNN GEMMs (plain and Aᵀ·B) on two threads for `ms` milliseconds, then 'done'. */
function gemmLoop(ms: number, handler: boolean): string {
  return `${handler ? "process.on('SIGUSR2', () => {});" : ''}
const m = require(${JSON.stringify(addonPath())});
m.setGemmLibrary('onednn');
m.setNumThreads(2);
const n = 384, a = new Float32Array(n * n).fill(0.5), c = new Float32Array(n * n);
console.log('ready');
const t0 = Date.now();
while (Date.now() - t0 < ${ms}) {
  m.matmul(a, a, c, 1, n, n, n, false, false, 0, 0, 1, 0);
  m.matmul(a, a, c, 1, n, n, n, true, false, 0, 0, 1, 0);
}
if (c[0] !== 0.25 * n) throw new Error('wrong product ' + c[0]);
console.log('done');`;
}

interface ChildEnd { code: number | null; signal: string | null; out: string; err: string }

/** Runs the child; while `signalEveryMs` is set, sends it SIGUSR2 that often from 'ready' until 'done'. */
function runChild(args: string[], program: string, signalEveryMs: number | null): Promise<ChildEnd> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...args, '-e', program], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '', timer: NodeJS.Timeout | null = null;
    const stop = () => { if (timer) clearInterval(timer); timer = null; };
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (signalEveryMs && !timer && out.includes('ready') && !out.includes('done')) {
        timer = setInterval(() => child.kill('SIGUSR2'), signalEveryMs);
      }
      if (out.includes('done')) stop();
    });
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    child.on('exit', (code, signal) => { stop(); resolve({ code, signal, out, err }); });
  });
}

describe('signals during oneDNN GEMMs', () => {
  test('a JS signal handler receiving SIGUSR2 every millisecond', async () => {
    const r = await runChild([], gemmLoop(1000, true), 1);
    assert.equal(r.signal, null, `child killed by ${r.signal}: ${r.err.slice(-400)}`);
    assert.equal(r.code, 0, r.err.slice(-400));
    assert.match(r.out, /done/);
  });

  test('the V8 CPU profiler sampling every 50 µs (SIGPROF)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'itpn-cpuprof-'));
    try {
      const r = await runChild(['--cpu-prof', '--cpu-prof-dir', dir, '--cpu-prof-interval', '50'], gemmLoop(1000, false), null);
      assert.equal(r.signal, null, `child killed by ${r.signal}: ${r.err.slice(-400)}`);
      assert.equal(r.code, 0, r.err.slice(-400));
      assert.match(r.out, /done/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
