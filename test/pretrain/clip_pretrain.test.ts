// CLIP-distillation pre-training end to end with the fixture CLIP teacher (64 px, patch 16: a 4×4 grid, as the
// itpn_tiny student at 64 px): the teacher view's two input scalings, `itpn pretrain --variant clip` lowering its
// loss over 20 steps, and a stop + resume that equals an uninterrupted run exactly.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Rng } from '../../src/engine/random';
import { createCpuBackend } from '../../src/backends/cpu/cpu_backend';
import { createReferenceBackend } from '../../src/backends/reference/reference_backend';
import { readSafetensors } from '../../src/io/safetensors';
import { tensor } from '../../src/ops';
import { IMAGENET_MEAN, IMAGENET_STD } from '../../src/data/transforms';
import { pretrain, type PretrainOptions } from '../../src/pretrain/run';
import { CLIP_MEAN, CLIP_STD, clipTeacherView, loadTeacher } from '../../src/pretrain/teacher';
import { resolvePretrainOptions, type PretrainCliOptions } from '../../src/cli/pretrain';
import { fixturesDir, repoRoot } from '../helpers';

const teacherFile = path.join(fixturesDir, 'clip-teacher', 'weights.safetensors');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'itpn-clip-pretrain-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('teacher view: ImageNet normalisation undone, then CLIP mean/std (clip) or (x+1)/2 first (official); resized to the teacher grid', () => {
  const backend = createReferenceBackend();
  const rng = new Rng(1);
  const x01 = new Float32Array(2 * 3 * 4 * 4);
  rng.fillUniform(x01);
  const plane = 16;
  const normalised = x01.map((v, i) => { const c = Math.floor(i / plane) % 3; return (v - IMAGENET_MEAN[c]) / IMAGENET_STD[c]; });
  const images = tensor(backend, normalised, [2, 3, 4, 4]);
  for (const mode of ['clip', 'official'] as const) {
    const got = clipTeacherView(images, 4, mode).toArray();
    x01.forEach((v, i) => {
      const c = Math.floor(i / plane) % 3;
      const u = mode === 'clip' ? v : (v + 1) / 2;
      assert.ok(Math.abs(got[i] - (u - CLIP_MEAN[c]) / CLIP_STD[c]) < 1e-5, `${mode} [${i}]`);
    });
  }
  assert.deepEqual(clipTeacherView(images, 7, 'clip').shape, [2, 3, 7, 7]);
  const t = loadTeacher(backend, { path: teacherFile, input: 'clip', heads: 2 });
  assert.equal(t.kind, 'clip');
  assert.equal(t.finalDim, 32);
  // student 64 px → 4×4 grid → teacher input 4·16; a 14-patch teacher would get 56
  const feats = t.features(tensor(backend, new Float32Array(2 * 3 * 64 * 64), [2, 3, 64, 64]), [1]);
  assert.deepEqual(feats.final.shape, [2, 16, 32]);
  assert.deepEqual(feats.taps.get(1)!.shape, [2, 16, 64]);
  assert.equal(feats.final.requiresGrad, false);
});

test('itpn pretrain --variant clip: the SmoothL1 loss falls over 20 steps; the log has both heads', () => {
  const out = path.join(tmp, 'cli');
  const r = spawnSync(process.execPath, [path.join(repoRoot, 'bin', 'itpn.js'), 'pretrain', '--variant', 'clip',
    '--teacher', teacherFile, '--teacher-heads', '2', '--data', path.join(repoRoot, 'data', 'imagenette-mini', 'val'),
    '--img-size', '64', '--batch', '8', '--steps', '20', '--lr', '1e-3', '--warmup-steps', '2', '--threads', '1', '--workers', '1',
    '--save-every', '0', '--out', out], { cwd: repoRoot, encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, `exit ${r.status}\n${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /block masking: 6 of 16 patches, blocks of ≥ 1/);
  assert.match(r.stdout, /betas \(0\.9, 0\.98\), clip grad 3, drop path 0\.1/);
  const log = fs.readFileSync(path.join(out, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(log.length, 20);
  for (const rec of log) assert.ok(Math.abs(rec.loss - rec.loss_1 - rec.loss_2) < 1e-5, 'loss = loss_1 + loss_2');
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const first = mean(log.slice(0, 5).map((x) => x.loss)), last = mean(log.slice(-5).map((x) => x.loss));
  assert.ok(last < 0.8 * first, `loss ${first} → ${last}`);
  const keys = [...readSafetensors(path.join(out, 'checkpoint', 'model.safetensors')).tensors.keys()];
  for (const k of ['mask_token', 'lm_head.weight', 'lm_cls_head.weight', 'cls_pt_layers.1.gamma_2', 'blocks.4.attn.relative_position_bias_table']) assert.ok(keys.includes(k), k);
  assert.ok(!keys.some((k) => k.startsWith('mfm_heads')));
});

test('clip pre-training: stop + resume equals an uninterrupted run (weights and log)', async () => {
  const backend = createCpuBackend({ threads: 1 });
  const quiet = () => undefined;
  const base = (out: string): PretrainOptions => ({
    data: path.join(repoRoot, 'data', 'imagenette-mini', 'val'), arch: 'itpn_tiny', imgSize: 64, batch: 4, accumIter: 2, steps: 4,
    blr: 1.5e-3, minLr: 0, warmupSteps: 1, weightDecay: 0.05, seed: 5, out, resume: false, workers: 1, vizEvery: 0, saveEvery: 0,
    maskRatio: 0.75, variant: 'clip', teacher: { path: teacherFile, input: 'official', heads: 2 },
  });
  const a = path.join(tmp, 'a'), b = path.join(tmp, 'b');
  await pretrain(backend, base(a), quiet);
  await pretrain(backend, { ...base(b), stopAt: 2 }, quiet);
  await pretrain(backend, { ...base(b), resume: true }, quiet);
  const wa = readSafetensors(path.join(a, 'checkpoint/model.safetensors')).tensors;
  const wb = readSafetensors(path.join(b, 'checkpoint/model.safetensors')).tensors;
  assert.equal(wa.size, wb.size);
  for (const [name, t] of wa) assert.deepEqual(wb.get(name)!.data, t.data, `weights differ after resume: ${name}`);
  const read = (d: string) => fs.readFileSync(path.join(d, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(read(b).map((r) => [r.loss, r.loss_1, r.loss_2]), read(a).map((r) => [r.loss, r.loss_1, r.loss_2]));
});

test('teacher cache: a second run with the same seed and data reads every batch from the cache and logs the same losses', async () => {
  const backend = createCpuBackend({ threads: 1 });
  const cacheDir = path.join(tmp, 'cache');
  const opts = (out: string): PretrainOptions => ({
    data: path.join(repoRoot, 'data', 'imagenette-mini', 'val'), arch: 'itpn_tiny', imgSize: 64, batch: 4, accumIter: 1, steps: 3,
    blr: 1.5e-3, minLr: 0, warmupSteps: 1, weightDecay: 0.05, seed: 6, out, resume: false, workers: 1, vizEvery: 0, saveEvery: 0,
    maskRatio: 0.75, variant: 'clip', teacher: { path: teacherFile, input: 'clip', heads: 2 }, teacherCache: { dir: cacheDir },
  });
  const lines: string[] = [];
  await pretrain(backend, opts(path.join(tmp, 'c1')), (s) => lines.push(s));
  await pretrain(backend, opts(path.join(tmp, 'c2')), (s) => lines.push(s));
  const stats = lines.filter((l) => l.startsWith('teacher cache'));
  assert.match(stats[0], /0 hits, 3 misses/);
  assert.match(stats[1], /3 hits, 0 misses/);
  assert.equal(fs.readdirSync(cacheDir).length, 3);
  const read = (d: string) => fs.readFileSync(path.join(tmp, d, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).loss);
  assert.deepEqual(read('c2'), read('c1'));
});

test('pretrain options: teacher and MFM flags are parsed strictly', () => {
  const cli: PretrainCliOptions = {
    data: 'd', arch: 'itpn_tiny', imgSize: 64, batch: 2, accumIter: 1, steps: 1, minLr: 0, weightDecay: 0.05, seed: 0, out: 'o',
    maskRatio: 0.75, vizEvery: 0, saveEvery: 0, backend: 'cpu', resume: false, variant: 'clip', teacherInput: 'clip',
    mfm: false, mfmWeights: '1,1,1', mfmLayers: 'final,final,final', mfmLoss: 'smooth_l1',
  };
  assert.throws(() => resolvePretrainOptions(cli), /--teacher is required with --variant clip/);
  assert.throws(() => resolvePretrainOptions({ ...cli, variant: 'pixel', teacher: 't' }), /only used by --variant clip or --mfm/);
  assert.throws(() => resolvePretrainOptions({ ...cli, variant: 'mae', teacher: 't' }), /--variant mae: expected one of pixel, clip/);
  assert.throws(() => resolvePretrainOptions({ ...cli, teacher: 't', teacherInput: 'raw' }), /--teacher-input raw/);
  assert.throws(() => resolvePretrainOptions({ ...cli, teacher: 't', mfm: true, mfmLayers: 'final,0,2' }), /--mfm-layers/);
  assert.throws(() => resolvePretrainOptions({ ...cli, teacher: 't', mfm: true, mfmWeights: '1,1' }), /--mfm-weights 1,1: expected 3/);
  const o = resolvePretrainOptions({ ...cli, teacher: 't', mfm: true, mfmLayers: 'final, 4,2', mfmWeights: '1,0.5,0.25', betas: '0.9,0.999', cacheTeacher: true });
  assert.equal(o.variant, 'clip');
  assert.equal(o.blr, 1.5e-3);
  assert.deepEqual(o.betas, [0.9, 0.999]);
  assert.deepEqual(o.teacher, { path: 't', arch: undefined, heads: undefined, input: 'clip' });
  assert.deepEqual(o.mfm, { weights: [1, 0.5, 0.25], layers: [null, 4, 2], loss: 'smooth_l1' });
  assert.deepEqual(o.teacherCache, { dir: path.join('o', 'teacher-cache'), epochs: undefined });
  assert.ok(!('backend' in o) && !('teacherInput' in o));
});
