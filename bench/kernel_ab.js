#!/usr/bin/env node
// A/B timing of one native kernel between two builds of the addon, alternating the builds so the VM's drift hits
// both alike. Each build runs in its own process (two addons cannot share one).
//   node bench/kernel_ab.js OLD.node NEW.node KERNEL [--threads N] [--rounds R]
// KERNEL: attention (forward, 8×16 heads, N 196, D 32 — the decoder), attention-backward, attention-infer (forward
// without probabilities, 8×8 heads, N 196, D 64 — itpn_base's encoder at inference), layernorm (1568×512 forward and
// backward), gelu (3.2 M elements, forward and geluBackward), linear (itpn_base's four stage-3 Linear layers at
// batch 8: qkv, proj + residual, fc1 + GELU, fc2 + residual), gather (a relative position bias: 8 heads × 196²
// words from a 729-entry table).
// Build the two addons with `npm run build:native` at each revision and copy build/Release/itpn_cpu.node aside.
'use strict';
const { spawnSync } = require('node:child_process');

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Times the kernel in this process with the addon at `file`; returns { name: medianMs }. */
function timeKernel(file, kernel, threads) {
  const mod = { exports: {} };
  process.dlopen(mod, file);
  const n = mod.exports;
  n.setNumThreads(threads);
  const rand = (len, scale = 1) => Float32Array.from({ length: len }, () => (Math.random() - 0.5) * scale);
  const time = (fn, reps = 21) => {
    const t = [];
    for (let r = 0; r < reps; r++) {
      const t0 = performance.now();
      fn();
      t.push(performance.now() - t0);
    }
    return median(t);
  };
  if (kernel === 'attention' || kernel === 'attention-backward') {
    const [B, N, H, D] = [8, 196, 16, 32], C = H * D;
    const qkv = rand(B * N * 3 * C), out = new Float32Array(B * N * C), probs = new Float32Array(B * H * N * N);
    const forward = () => n.attention(qkv, null, out, probs, B, N, H, D, D ** -0.5, 1);
    if (kernel === 'attention') return { forward: time(forward) };
    forward();
    const dout = rand(B * N * C), dqkv = new Float32Array(qkv.length);
    return { backward: time(() => n.attentionBackward(qkv, probs, dout, dqkv, null, B, N, H, D, D ** -0.5, 1)) };
  }
  if (kernel === 'attention-infer') {
    const [B, N, H, D] = [8, 196, 8, 64], C = H * D;
    const qkv = rand(B * N * 3 * C), out = new Float32Array(B * N * C);
    return { forward: time(() => n.attention(qkv, null, out, null, B, N, H, D, D ** -0.5, 1)) };
  }
  if (kernel === 'linear') {
    const rows = 1568, res = {};
    for (const [name, inF, outF, gelu, residual] of [['qkv', 512, 1536, 0, false], ['proj', 512, 512, 0, true],
      ['fc1', 512, 2048, 1, false], ['fc2', 2048, 512, 0, true]]) {
      const x = rand(rows * inF), w = rand(outF * inF, 0.1), b = rand(outF), out = new Float32Array(rows * outF);
      const r = residual ? rand(rows * outF) : null;
      res[name] = time(() => n.linear(x, w, b, r, out, rows, inF, outF, gelu));
    }
    return res;
  }
  if (kernel === 'gather') {
    const heads = 8, table = 729, k = 196 * 196;
    const x = new Int32Array(heads * table).map((_, i) => i), out = new Int32Array(heads * k);
    const idx = Int32Array.from({ length: k }, () => Math.floor(Math.random() * table));
    return { forward: time(() => n.gather(x, idx, out, heads, table, 1, k, false)) };
  }
  if (kernel === 'layernorm') {
    const rows = 1568, cols = 512;
    const x = rand(rows * cols, 2), w = rand(cols, 1).map((v) => v + 1), b = rand(cols, 0.2);
    const out = new Float32Array(rows * cols), mean = new Float32Array(rows), rstd = new Float32Array(rows);
    const dy = rand(rows * cols), dx = new Float32Array(rows * cols), dw = new Float32Array(cols), db = new Float32Array(cols);
    return {
      forward: time(() => n.layerNorm(x, w, b, out, mean, rstd, rows, cols, 1e-6)),
      backward: time(() => n.layerNormBackward(dy, x, w, mean, rstd, dx, dw, db, rows, cols)),
    };
  }
  if (kernel === 'gelu') {
    const len = 3211264, x = rand(len, 6), y = new Float32Array(len), dy = rand(len), dx = new Float32Array(len);
    const code = n.unaryOps.indexOf('gelu');
    return { forward: time(() => n.unary(code, x, y)), backward: time(() => n.geluBackward(x, dy, dx, y)) };
  }
  throw new Error(`unknown kernel "${kernel}" (attention, attention-backward, attention-infer, layernorm, gelu, linear, gather)`);
}

function main() {
  const args = process.argv.slice(2);
  if (args[0] === '--child') {
    console.log(JSON.stringify(timeKernel(args[1], args[2], Number(args[3]))));
    return;
  }
  const opt = (name, dflt) => {
    const i = args.indexOf(name);
    return i >= 0 ? Number(args.splice(i, 2)[1]) : dflt;
  };
  const threads = opt('--threads', 1), rounds = opt('--rounds', 3);
  const [oldFile, newFile, kernel] = args;
  if (!oldFile || !newFile || !kernel) {
    console.error('usage: node bench/kernel_ab.js OLD.node NEW.node KERNEL [--threads N] [--rounds R]');
    process.exit(2);
  }
  const results = { old: [], new: [] };
  for (let r = 0; r < rounds; r++) {
    for (const [side, file] of [['old', oldFile], ['new', newFile]]) {
      const p = spawnSync(process.execPath, [__filename, '--child', file, kernel, String(threads)], { encoding: 'utf8' });
      if (p.status !== 0) throw new Error(`${side} build failed: ${p.stderr.trim()}`);
      results[side].push(JSON.parse(p.stdout));
    }
  }
  for (const key of Object.keys(results.old[0])) {
    const fmt = (side) => results[side].map((x) => x[key].toFixed(3)).join(', ');
    console.log(`${kernel} ${key}, ${threads} thread(s), ms per round: old ${fmt('old')} | new ${fmt('new')}`);
  }
}

main();
