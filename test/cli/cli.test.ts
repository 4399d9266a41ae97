// The `itpn` command line as a subprocess: parity (pass, a perturbed gradient, a missing folder) and convert.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readSafetensors, writeSafetensors } from '../../src/io/safetensors';
import type { RawTensor } from '../../src/io/raw_tensor';

const repoRoot = path.resolve(__dirname, '../../..');
const bin = path.join(repoRoot, 'bin', 'itpn.js');
const fixturesDir = path.join(repoRoot, 'test', 'fixtures');

const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'itpn-cli-'));
after(() => fs.rmSync(tmpDir, { recursive: true, force: true }));

function itpn(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: repoRoot, encoding: 'utf8', timeout: 120_000, maxBuffer: 64 * 1024 * 1024 });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const show = (r: { status: number | null; stdout: string; stderr: string }) => `exit ${r.status}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`;

test('itpn parity test/fixtures/classify --backend cpu passes', () => {
  const r = itpn('parity', 'test/fixtures/classify', '--backend', 'cpu');
  assert.equal(r.status, 0, show(r));
  assert.match(r.stdout, /✓ test\/fixtures\/classify \[classify, cpu\]/);
  assert.match(r.stdout, /1 of 1 fixtures pass/);
  assert.doesNotMatch(r.stdout, /FAIL/);
});

test('itpn parity fails on a fixture with one perturbed gradient and names that tensor', () => {
  const src = path.join(fixturesDir, 'classify');
  const dst = path.join(tmpDir, 'classify-perturbed');
  fs.mkdirSync(dst);
  for (const f of ['config.json', 'weights.safetensors', 'inputs.safetensors']) fs.copyFileSync(path.join(src, f), path.join(dst, f));
  const { tensors, metadata } = readSafetensors(path.join(src, 'outputs.safetensors'));
  const gradNames = [...tensors.keys()].filter((k) => k.startsWith('grad.')).sort();
  assert.ok(gradNames.length > 0, 'the classify fixture has no gradients');
  // a weight gradient in the middle of the network, not the head (whose error would be obvious)
  const target = gradNames.find((k) => /blocks\.\d+\..*weight$/.test(k)) ?? gradNames[0];
  const perturbed = new Map<string, RawTensor>();
  for (const [k, t] of tensors) {
    if (k !== target) {
      perturbed.set(k, t);
      continue;
    }
    const data = Float32Array.from(t.data, (v) => v * 1.01);
    perturbed.set(k, { dtype: t.dtype, shape: t.shape, data });
  }
  writeSafetensors(path.join(dst, 'outputs.safetensors'), perturbed, metadata);

  const r = itpn('parity', dst, '--backend', 'reference');
  assert.notEqual(r.status, 0, show(r));
  const failLines = r.stdout.split('\n').filter((l) => l.includes('FAIL'));
  assert.equal(failLines.length, 1, `expected exactly one failing tensor:\n${show(r)}`);
  assert.ok(failLines[0].includes(target), `the failure names ${target}:\n${show(r)}`);
  assert.match(r.stdout, /0 of 1 fixtures pass/);
});

test('itpn convert weights.pth gives the tensors of weights.safetensors', () => {
  const out = path.join(tmpDir, 'converted.safetensors');
  const r = itpn('convert', 'test/fixtures/pixel-pretrain/weights.pth', out);
  assert.equal(r.status, 0, show(r));
  assert.ok(fs.existsSync(out), 'no output file');
  const converted = readSafetensors(out).tensors;
  const expected = readSafetensors(path.join(fixturesDir, 'pixel-pretrain', 'weights.safetensors')).tensors;
  assert.deepEqual([...converted.keys()].sort(), [...expected.keys()].sort());
  for (const [k, e] of expected) {
    const c = converted.get(k)!;
    assert.equal(c.dtype, e.dtype, `${k}: dtype`);
    assert.deepEqual(c.shape, e.shape, `${k}: shape`);
    assert.equal(c.data.length, e.data.length, `${k}: element count`);
    for (let i = 0; i < e.data.length; i++) {
      if (!Object.is(c.data[i], e.data[i])) assert.fail(`${k}[${i}]: converted ${c.data[i]} vs ${e.data[i]}`);
    }
  }
});

test('itpn parity /nonexistent exits non-zero and names the path', () => {
  const r = itpn('parity', '/nonexistent');
  assert.notEqual(r.status, 0, show(r));
  assert.match(r.stdout + r.stderr, /\/nonexistent/);
});

test('--precision: bf16 reaches the bench child and the parity bound; a bad value is refused', () => {
  const bench = itpn('bench', 'train', '--arch', 'itpn_tiny', '--img-size', '32', '--batch', '2', '--steps', '1', '--warmup', '0', '--no-torch', '--json', '--precision', 'bf16');
  assert.equal(bench.status, 0, show(bench));
  assert.equal(JSON.parse(bench.stdout.trim().split('\n').pop()!).itpn.precision, 'bf16');
  const parity = itpn('--precision', 'bf16', 'parity', 'test/fixtures/classify');
  assert.equal(parity.status, 0, show(parity));
  assert.match(parity.stdout, /tolerance 0\.01/);
  const bad = itpn('--precision', 'fp16', 'info', 'itpn_tiny');
  assert.notEqual(bad.status, 0, show(bad));
  assert.match(bad.stderr, /--precision must be float32 or bf16, got "fp16"/);
  const ref = itpn('--precision', 'bf16', 'parity', 'test/fixtures/classify', '--backend', 'reference');
  assert.notEqual(ref.status, 0, show(ref));
  assert.match(ref.stdout + ref.stderr, /needs the cpu backend/);
});

test('bench --rounds: the sides alternate, each side reports its median, every round its ratio', () => {
  // A stand-in for the PyTorch peer: each run reports the next of 10, 30, 20 images/s (and the wrapper's RSS line).
  const counter = path.join(tmpDir, 'peer-runs');
  const peer = path.join(tmpDir, 'fake-python');
  fs.writeFileSync(peer, `#!/bin/sh
n=$(cat "${counter}" 2>/dev/null || echo 0); echo $((n + 1)) > "${counter}"
case $n in 0) ips=10;; 1) ips=30;; *) ips=20;; esac
echo "{\\"images_per_s\\": $ips, \\"step_ms_median\\": $((2000 / ips)), \\"torch_version\\": \\"fake\\"}"
echo '{"peak_rss_mib": 100}'
`, { mode: 0o755 });
  const r = itpn('bench', 'infer', '--arch', 'itpn_tiny', '--img-size', '32', '--batch', '2', '--steps', '1', '--warmup', '0', '--rounds', '3', '--python', peer, '--json');
  assert.equal(r.status, 0, show(r));
  assert.equal(fs.readFileSync(counter, 'utf8').trim(), '3');
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
  assert.equal(out.rounds, 3);
  assert.equal(out.torch.images_per_s, 20);
  assert.equal(out.torch.step_ms_median, 100);
  assert.equal(out.round_ratios.length, 3);
  assert.ok(Math.abs(out.ratio - out.itpn.images_per_s / 20) < 1e-12);
  // each round's ratio is that round's ours over that round's peer: the peer's 10, 30, 20 in run order
  const implied = out.round_ratios.map((x: number, i: number) => [10, 30, 20][i] * x);
  assert.ok(implied.every((v: number) => v > 0));
  const sorted = [...implied].sort((a: number, b: number) => a - b);
  assert.ok(Math.abs(sorted[1] - out.itpn.images_per_s) < 1e-9 * out.itpn.images_per_s, 'ours is the median of its rounds');
});

test('bench with an unknown architecture or a bad input size says so before any side runs', () => {
  const arch = itpn('bench', 'train', '--arch', 'itpn_nope', '--no-torch');
  assert.equal(arch.status, 2, show(arch));
  assert.match(arch.stderr, /^itpn: unknown architecture "itpn_nope" \(known: itpn_base/);
  assert.doesNotMatch(arch.stderr, /\n\s+at /, 'no stack trace');
  const size = itpn('bench', 'infer', '--arch', 'itpn_tiny', '--img-size', '100', '--no-torch');
  assert.equal(size.status, 2, show(size));
  assert.match(size.stderr, /img_size 100 is not a multiple of patch_size 16/);
});
