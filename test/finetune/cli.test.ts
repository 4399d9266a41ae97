// The inference commands as subprocesses on a tiny fine-tuning run and a tiny pre-training run: predict (round trip
// against the model, names from classes.tsv, bad files reported by name with a non-zero exit, other architectures
// and class counts refused), features (pyramid maps and embedding equal to the model's own forward), eval (metrics
// equal to the run's last evaluation, also from weights without a class list) and probe (features cached).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createCpuBackend } from '../../src/backends/cpu/cpu_backend';
import { Rng } from '../../src/engine/random';
import { tidy } from '../../src/engine/scope';
import { readSafetensors, writeSafetensors } from '../../src/io/safetensors';
import { mean, softmax, tensor } from '../../src/ops';
import { ITPNDenseBackbone } from '../../src/models/itpn/dense';
import { loadStateDict } from '../../src/models/load_state_dict';
import { taskConfig } from '../../src/models/itpn/factory';
import { filterPretrainState } from '../../src/finetune/checkpoint_filter';
import { decodeImageFiles, stackImages } from '../../src/finetune/images';
import { loadClassifier } from '../../src/finetune/model';
import { finetune } from '../../src/finetune/run';
import { META_KEY } from '../../src/finetune/weights';
import { pretrain } from '../../src/pretrain/run';
import { repoRoot } from '../helpers';
import { makeTinyData } from './tiny_data';

const data = makeTinyData({ classes: 3, train: 6, val: 4 });
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'itpn-ft-cli-'));
const ft = path.join(tmp, 'ft'), pre = path.join(tmp, 'pre');
const backend = createCpuBackend({ threads: 1 });
const valImages = fs.readdirSync(path.join(data, 'val')).sort().flatMap((c) => fs.readdirSync(path.join(data, 'val', c)).sort().slice(0, 1).map((f) => path.join(data, 'val', c, f)));
const notes = path.join(tmp, 'notes.jpg');
const missing = path.join(tmp, 'missing.jpg');

before(async () => {
  fs.writeFileSync(notes, 'not an image\n');
  await finetune(backend, {
    data: path.join(data, 'train'), val: path.join(data, 'val'), arch: 'itpn_tiny', imgSize: 32, init: { kind: 'scratch' },
    epochs: 1, warmupEpochs: 0, batch: 6, blr: 0.05, minLr: 1e-6, weightDecay: 0.05, layerDecay: 1, dropPath: 0, mixup: 0, cutmix: 0,
    mixupProb: 1, mixupSwitchProb: 0.5, smoothing: 0.1, randAug: null, reprob: 0, seed: 1, out: ft, resume: false, workers: 1,
  }, () => undefined);
  await pretrain(backend, {
    data: path.join(data, 'train'), arch: 'itpn_tiny', imgSize: 32, batch: 6, accumIter: 1, steps: 1, blr: 1.5e-3, minLr: 0, warmupSteps: 0,
    weightDecay: 0.05, seed: 0, out: pre, resume: false, workers: 1, vizEvery: 0, saveEvery: 0, maskRatio: 0.75,
  }, () => undefined);
});
after(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.rmSync(data, { recursive: true, force: true });
});

function itpn(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [path.join(repoRoot, 'bin', 'itpn.js'), ...args, '--threads', '1'], { cwd: repoRoot, encoding: 'utf8', timeout: 120_000 });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
const show = (r: { status: number | null; stdout: string; stderr: string }) => `exit ${r.status}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`;

test('predict: fine-tune → predict round trip, top-5 with class names and the model\'s probabilities', async () => {
  const r = itpn('predict', ...valImages, '--checkpoint', ft, '--json');
  assert.equal(r.status, 0, show(r));
  const rows = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(rows.map((x) => x.path), valImages);
  // the same images through the best weights in this process
  const { model } = loadClassifier(backend, ft);
  const { ok } = await decodeImageFiles(valImages, 32);
  const probs = tidy(() => softmax(model.forward(tensor(backend, stackImages(ok), [ok.length, 3, 32, 32]))).toArray());
  rows.forEach((row, i) => {
    assert.equal(row.top.length, 3, 'top-5 of 3 classes is 3 entries');
    const order = [0, 1, 2].sort((a, b) => probs[i * 3 + b] - probs[i * 3 + a]);
    assert.deepEqual(row.top.map((t: { index: number }) => t.index), order);
    row.top.forEach((t: { index: number; prob: number; name: string; class: string }) => {
      assert.ok(Math.abs(t.prob - probs[i * 3 + t.index]) < 1e-5);
      assert.equal(t.name, ['tench', 'English springer', 'cassette player'][t.index]);
      assert.equal(t.class, ['n01440764', 'n02102040', 'n02979186'][t.index]);
    });
  });
  model.dispose();
  const text = itpn('predict', valImages[0], '--checkpoint', path.join(ft, 'best', 'model.safetensors'));
  assert.equal(text.status, 0, show(text));
  assert.match(text.stdout, /^\s+1\.\s+\d+\.\d\d%\s+(tench|English springer|cassette player) \(n\d+\)$/m);
});

test('predict: a missing file and a text file are reported by name, the others still run, exit non-zero', () => {
  const r = itpn('predict', valImages[0], missing, notes, valImages[1], '--checkpoint', ft, '--json');
  assert.notEqual(r.status, 0, show(r));
  const rows = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(rows.map((x) => x.path), [valImages[0], missing, notes, valImages[1]]);
  assert.ok(rows[0].top && rows[3].top);
  assert.match(rows[1].error, /no such file/);
  assert.match(rows[2].error, /not a readable image/);
  assert.match(r.stderr, /missing\.jpg: no such file/);
  assert.match(r.stderr, /notes\.jpg: not a readable image/);
  assert.match(r.stderr, /2 of 4 images could not be read/);
});

test('predict/eval refuse another architecture, another class count and a pre-training checkpoint', () => {
  const arch = itpn('predict', valImages[0], '--checkpoint', ft, '--arch', 'itpn_small');
  assert.notEqual(arch.status, 0, show(arch));
  assert.match(arch.stderr, /shape mismatch[\s\S]*patch_embed\.proj\.weight: checkpoint \[48, 3, 4, 4\] vs model \[96, 3, 4, 4\]/);
  // the same weights with metadata claiming 5 classes
  const { tensors, metadata } = readSafetensors(path.join(ft, 'best', 'model.safetensors'));
  const meta = JSON.parse(metadata[META_KEY]);
  meta.classes = ['a', 'b', 'c', 'd', 'e'];
  meta.class_names = meta.classes;
  meta.config.num_classes = 5;
  const five = path.join(tmp, 'five.safetensors');
  writeSafetensors(five, tensors, { ...metadata, [META_KEY]: JSON.stringify(meta) });
  const classes = itpn('eval', '--checkpoint', five, '--data', path.join(data, 'val'));
  assert.notEqual(classes.status, 0, show(classes));
  assert.match(classes.stderr, /head\.weight: checkpoint \[3, 192\] vs model \[5, 192\]/);
  const preR = itpn('predict', valImages[0], '--checkpoint', pre);
  assert.notEqual(preR.status, 0, show(preR));
  assert.match(preR.stderr, /no classification head/);
});

test('features: pyramid maps at strides 4–64 and the embedding of a pre-training checkpoint (resized to 64 px)', async () => {
  const out = path.join(tmp, 'feats.safetensors');
  const r = itpn('features', valImages[0], missing, valImages[2], '--checkpoint', path.join(pre, 'checkpoint'), '--img-size', '64', '--out', out);
  assert.notEqual(r.status, 0, 'one file was missing');
  assert.match(r.stderr, /missing\.jpg: no such file/);
  const { tensors, metadata } = readSafetensors(out);
  assert.deepEqual(JSON.parse(metadata.paths), [valImages[0], valImages[2]]);
  const shapes = Object.fromEntries([...tensors].map(([k, t]) => [k, t.shape]));
  assert.deepEqual(shapes, {
    embedding: [2, 192], 'pyramid.s4': [2, 96, 16, 16], 'pyramid.s8': [2, 96, 8, 8], 'pyramid.s16': [2, 96, 4, 4],
    'pyramid.s32': [2, 96, 2, 2], 'pyramid.s64': [2, 96, 1, 1],
  });
  // the detection backbone built here from the pre-training config, with the table resized as the filter does
  const model = new ITPNDenseBackbone({ backend, rng: new Rng(0) }, taskConfig('itpn_tiny', 'pixel', { img_size: 64 }), 'detection', 5);
  const sd = readSafetensors(path.join(pre, 'checkpoint', 'model.safetensors')).tensors;
  const report = loadStateDict(model, filterPretrainState(sd, model, 'pyramid').state, { strict: false });
  assert.deepEqual(report.missing, []);
  model.eval();
  const { ok } = await decodeImageFiles([valImages[0], valImages[2]], 64);
  tidy(() => {
    const feats = model.forwardFeatures(tensor(backend, stackImages(ok), [2, 3, 64, 64]));
    const want = [mean(feats.x, 1), ...model.forwardMaps(feats)];
    ['embedding', 'pyramid.s4', 'pyramid.s8', 'pyramid.s16', 'pyramid.s32', 'pyramid.s64'].forEach((k, i) => {
      const a = tensors.get(k)!.data, b = want[i].toArray();
      for (let j = 0; j < a.length; j++) assert.ok(Math.abs(a[j] - b[j]) <= 1e-5 * (1 + Math.abs(b[j])), `${k}[${j}]: ${a[j]} vs ${b[j]}`);
    });
  });
  model.dispose();
});

test('features --no-pyramid: the embedding of a pre-training checkpoint only, equal to the full run\'s', () => {
  const full = path.join(tmp, 'feats-full.safetensors'), only = path.join(tmp, 'feats-emb.safetensors');
  assert.equal(itpn('features', valImages[0], valImages[1], '--checkpoint', pre, '--out', full).status, 0);
  const r = itpn('features', valImages[0], valImages[1], '--checkpoint', pre, '--out', only, '--no-pyramid');
  assert.equal(r.status, 0, show(r));
  const t = readSafetensors(only).tensors;
  assert.deepEqual([...t.keys()], ['embedding']);
  assert.deepEqual(t.get('embedding')!.data, readSafetensors(full).tensors.get('embedding')!.data);
});

test('features of a fine-tuned classifier: the embedding only', () => {
  const out = path.join(tmp, 'emb.safetensors');
  const r = itpn('features', ...valImages, '--checkpoint', ft, '--out', out);
  assert.equal(r.status, 0, show(r));
  assert.deepEqual([...readSafetensors(out).tensors.keys()], ['embedding']);
});

test('eval: top-1/top-5/per-class equal the run\'s last evaluation; confusion matrix and metrics written', () => {
  const out = path.join(tmp, 'eval');
  const r = itpn('eval', '--checkpoint', path.join(ft, 'checkpoint'), '--data', path.join(data, 'val'), '--out', out, '--batch', '6', '--json');
  assert.equal(r.status, 0, show(r));
  const m = JSON.parse(r.stdout);
  const last = JSON.parse(fs.readFileSync(path.join(ft, 'eval.jsonl'), 'utf8').trim().split('\n').pop()!);
  assert.equal(m.images, 12);
  assert.equal(m.top1, last.val_top1);
  assert.equal(m.top5, last.val_top5);
  assert.ok(Math.abs(m.loss - last.val_loss) < 1e-6);
  const diag = m.confusion.reduce((s: number, row: number[], i: number) => s + row[i], 0);
  assert.equal(diag / 12, m.top1);
  assert.deepEqual(m.per_class.map((p: { images: number }) => p.images), [4, 4, 4]);
  assert.ok(fs.existsSync(path.join(out, 'confusion_matrix.png')) && fs.existsSync(path.join(out, 'metrics.json')));
  const text = itpn('eval', '--checkpoint', ft, '--data', path.join(data, 'val'), '--out', out);
  assert.match(text.stdout, /top-1 \d+\.\d\d%\s+top-5 100\.00%/);
  assert.match(text.stdout, /tench \(n01440764\)\s+\d+\/4/);
});

test('eval and predict of weights without a class list (as an official .pth): labels are the sorted class folders', () => {
  // the run's weights without itpn's metadata, as a fine-tuned file from elsewhere comes
  const bare = path.join(tmp, 'bare-classifier.safetensors');
  writeSafetensors(bare, readSafetensors(path.join(ft, 'checkpoint', 'model.safetensors')).tensors);
  const r = itpn('eval', '--checkpoint', bare, '--arch', 'itpn_tiny', '--data', path.join(data, 'val'), '--out', path.join(tmp, 'eval-bare'), '--batch', '6', '--json');
  assert.equal(r.status, 0, show(r));
  assert.match(r.stderr, /names no classes: label i is the i-th class folder of .* in sorted order/);
  const m = JSON.parse(r.stdout);
  const last = JSON.parse(fs.readFileSync(path.join(ft, 'eval.jsonl'), 'utf8').trim().split('\n').pop()!);
  assert.equal(m.top1, last.val_top1, 'the same labels as the run that wrote the class list');
  assert.deepEqual(m.per_class.map((p: { class: string; name: string }) => [p.class, p.name]).slice(0, 1), [['n01440764', 'tench']]);
  // predict names the classes of such weights from the same folders when asked (class_0, … otherwise)
  const named = itpn('predict', valImages[0], '--checkpoint', bare, '--arch', 'itpn_tiny', '--classes-from', path.join(data, 'train'), '--json');
  assert.equal(named.status, 0, show(named));
  const viaMeta = itpn('predict', valImages[0], '--checkpoint', ft, '--json');
  assert.deepEqual(JSON.parse(named.stdout).top, JSON.parse(viaMeta.stdout).top, 'the same names and probabilities as with the class list');
  const unnamed = itpn('predict', valImages[0], '--checkpoint', bare, '--arch', 'itpn_tiny', '--json');
  assert.match(JSON.parse(unnamed.stdout).top[0].name, /^class_\d$/);
  const two = makeTinyData({ classes: 2, train: 1, val: 1 });
  try {
    const bad = itpn('eval', '--checkpoint', bare, '--arch', 'itpn_tiny', '--data', path.join(two, 'val'));
    assert.equal(bad.status, 2, show(bad));
    assert.match(bad.stderr, /the checkpoint's head has 3 classes and names none; .* has 2 class folders/);
  } finally {
    fs.rmSync(two, { recursive: true, force: true });
  }
});

test('probe: random and pre-trained weights; features are computed once and read from the cache after', () => {
  const out = path.join(tmp, 'probe');
  const args = ['--data', path.join(data, 'train'), '--img-size', '32', '--epochs', '5', '--warmup-epochs', '1', '--out', out, '--json'];
  const first = itpn('probe', '--from', 'scratch', '--arch', 'itpn_tiny', ...args);
  assert.equal(first.status, 0, show(first));
  assert.match(first.stderr, /train: 18 images, features computed and cached/);
  const again = itpn('probe', '--from', 'scratch', '--arch', 'itpn_tiny', ...args);
  assert.match(again.stderr, /train: 18 images, features read from the cache/);
  assert.match(again.stderr, /val: 12 images, features read from the cache/);
  assert.deepEqual(JSON.parse(again.stdout), JSON.parse(first.stdout), 'same features, same probe');
  const res = JSON.parse(first.stdout);
  assert.ok(res.val_top1 >= 0 && res.val_top1 <= 1 && res.train_images === 18 && res.val_images === 12);
  const p = itpn('probe', '--from', pre, ...args);
  assert.equal(p.status, 0, show(p));
  assert.match(p.stderr, /features computed and cached/, 'other weights, other cache entry');
  assert.equal(fs.readdirSync(out).filter((f) => f.startsWith('features-')).length, 4);
});
