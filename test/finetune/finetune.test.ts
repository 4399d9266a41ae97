// Fine-tuning end to end on a tiny data set at 32 px: the outputs of a run, exact resume (stopping mid-epoch and at
// an epoch boundary gives the weights, logs and evaluations of an uninterrupted run), starting from an itpn
// pre-training checkpoint, and train/val folders that disagree failing before any work.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createCpuBackend } from '../../src/backends/cpu/cpu_backend';
import { readSafetensors } from '../../src/io/safetensors';
import { finetune, type FinetuneOptions } from '../../src/finetune/run';
import { parseInit } from '../../src/finetune/model';
import { META_KEY, type ClassifierMeta } from '../../src/finetune/weights';
import { pretrain } from '../../src/pretrain/run';
import { makeTinyData } from './tiny_data';

const data = makeTinyData({ classes: 3, train: 8, val: 4 });
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'itpn-ft-'));
after(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.rmSync(data, { recursive: true, force: true });
});
const backend = createCpuBackend({ threads: 1 });
const quiet = () => undefined;

const options = (out: string, o: Partial<FinetuneOptions> = {}): FinetuneOptions => ({
  data: path.join(data, 'train'), val: path.join(data, 'val'), arch: 'itpn_tiny', imgSize: 32, init: { kind: 'scratch' },
  epochs: 2, warmupEpochs: 1, batch: 4, blr: 0.02, minLr: 1e-6, weightDecay: 0.05, layerDecay: 0.75, dropPath: 0.1,
  mixup: 0.8, cutmix: 1, mixupProb: 1, mixupSwitchProb: 0.5, smoothing: 0.1, randAug: 'rand-m9-mstd0.5-inc1', reprob: 0.25,
  clipGrad: 5, seed: 4, out, resume: false, workers: 1, ...o,
});

const readJsonl = (f: string) => fs.readFileSync(f, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
const weightsOf = (dir: string) => readSafetensors(path.join(dir, 'model.safetensors')).tensors;

function assertSameWeights(a: string, b: string): void {
  const wa = weightsOf(a), wb = weightsOf(b);
  assert.deepEqual([...wa.keys()], [...wb.keys()]);
  for (const [k, t] of wa) assert.deepEqual(wb.get(k)!.data, t.data, `weights differ: ${k}`);
}

test('a run writes best/ and checkpoint/ with the class metadata, logs and plots; resume is exact', async () => {
  const a = path.join(tmp, 'a'), b = path.join(tmp, 'b');
  const s = await finetune(backend, options(a), quiet);
  assert.equal(s.steps, 12);
  assert.equal(s.epochsDone, 2);
  for (const f of ['best/model.safetensors', 'best/trainer.json', 'checkpoint/model.safetensors', 'checkpoint/optimizer.safetensors',
    'checkpoint/trainer.json', 'log.jsonl', 'eval.jsonl', 'config.json', 'loss.png', 'accuracy.png', 'confusion_matrix.png']) {
    assert.ok(fs.existsSync(path.join(a, f)), `missing ${f}`);
  }
  const steps = readJsonl(path.join(a, 'log.jsonl'));
  assert.equal(steps.length, 12);
  for (const r of steps) for (const k of ['step', 'epoch', 'loss', 'lr', 'images_per_s']) assert.equal(typeof r[k], 'number');
  const evals = readJsonl(path.join(a, 'eval.jsonl'));
  assert.deepEqual(evals.map((r) => r.epoch), [0, 1]);
  for (const r of evals) assert.ok(r.val_top1 >= 0 && r.val_top1 <= 1 && r.val_top5 === 1, JSON.stringify(r)); // 3 classes: top-5 is certain
  const best = Math.max(...evals.map((r) => r.val_top1));
  assert.equal(s.bestTop1, best);
  const { metadata } = readSafetensors(path.join(a, 'best', 'model.safetensors'));
  const meta = JSON.parse(metadata[META_KEY]) as ClassifierMeta;
  assert.deepEqual(meta.classes, ['n01440764', 'n02102040', 'n02979186']);
  assert.deepEqual(meta.class_names, ['tench', 'English springer', 'cassette player']);
  assert.equal(meta.config.num_classes, 3);
  assert.equal(meta.config.rpe, true);

  // interrupted mid-epoch 0, again after the boundary of epoch 0 (before its evaluation is repeated), then finished
  await finetune(backend, options(b, { stopAt: 3 }), quiet);
  assert.equal(JSON.parse(fs.readFileSync(path.join(b, 'checkpoint', 'trainer.json'), 'utf8')).step, 3);
  let polls = 0; // a stop request (Ctrl+C) from its third poll on: after step 6, like stopAt 6
  const si = await finetune(backend, options(b, { resume: true, stop: { get requested() { return ++polls >= 3; } } }), quiet);
  assert.equal(si.interrupted, true);
  assert.equal(JSON.parse(fs.readFileSync(path.join(b, 'checkpoint', 'trainer.json'), 'utf8')).step, 6);
  await finetune(backend, options(b, { resume: true, stopAt: 8 }), quiet);
  const sb = await finetune(backend, options(b, { resume: true }), quiet);
  assert.equal(sb.steps, 12);
  assertSameWeights(path.join(a, 'checkpoint'), path.join(b, 'checkpoint'));
  assertSameWeights(path.join(a, 'best'), path.join(b, 'best'));
  assert.deepEqual(readJsonl(path.join(b, 'log.jsonl')).map((r) => r.loss), steps.map((r) => r.loss));
  const strip = (rs: Record<string, number>[]) => rs.map(({ epoch, step, train_loss, val_loss, val_top1, val_top5 }) => ({ epoch, step, train_loss, val_loss, val_top1, val_top5 }));
  assert.deepEqual(strip(readJsonl(path.join(b, 'eval.jsonl'))), strip(evals));
});

test('fine-tuning starts from an itpn pre-training checkpoint (backbone loaded, fc_norm/head/RPE new)', async () => {
  const pre = path.join(tmp, 'pre');
  await pretrain(backend, {
    data: path.join(data, 'train'), arch: 'itpn_tiny', imgSize: 32, batch: 4, accumIter: 1, steps: 2, blr: 1.5e-3, minLr: 0, warmupSteps: 1,
    weightDecay: 0.05, seed: 0, out: pre, resume: false, workers: 1, vizEvery: 0, saveEvery: 0, maskRatio: 0.75,
  }, quiet);
  const out = path.join(tmp, 'from-pre');
  const logs: string[] = [];
  const s = await finetune(backend, options(out, { init: parseInit(pre), epochs: 1, stopAt: 1 }), (m) => logs.push(m));
  assert.equal(s.steps, 1);
  assert.match(logs.join('\n'), /backbone tensors from .*pre\/checkpoint\/model\.safetensors \(dropped \d+ pre-training keys; new: .*fc_norm\.weight.*head\.weight/);
  // before the one step the backbone was the pre-trained one: the patch embedding moved only by a tiny lr
  const preW = weightsOf(path.join(pre, 'checkpoint')).get('patch_embed.proj.weight')!.data;
  const ftW = weightsOf(path.join(out, 'checkpoint')).get('patch_embed.proj.weight')!.data;
  let diff = 0;
  for (let i = 0; i < preW.length; i++) diff = Math.max(diff, Math.abs(preW[i] - ftW[i]));
  assert.ok(diff < 1e-3, `patch embedding changed by ${diff} in one warmup step`);
});

test('train and val with different class folders fail before anything is written', async () => {
  const bad = fs.mkdtempSync(path.join(os.tmpdir(), 'itpn-ft-bad-'));
  fs.cpSync(path.join(data, 'train'), path.join(bad, 'train'), { recursive: true });
  fs.cpSync(path.join(data, 'val'), path.join(bad, 'val'), { recursive: true });
  fs.renameSync(path.join(bad, 'val', 'n02979186'), path.join(bad, 'val', 'n03000684'));
  const out = path.join(bad, 'out');
  await assert.rejects(finetune(backend, options(out, { data: path.join(bad, 'train'), val: path.join(bad, 'val') }), quiet),
    /class folders of .* differ: only in train: n02979186; only in val: n03000684/);
  assert.ok(!fs.existsSync(out));
  fs.rmSync(bad, { recursive: true, force: true });
});
