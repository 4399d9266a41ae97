// The library entry point (src/index.ts, package.json "main"/"types") and the two programs in examples/, end to end:
// pre-train through the API, read pyramid features from that run, fine-tune from it and classify images.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pyramidFeatures } from '../examples/pyramid_features';
import { classifyImages } from '../examples/classify_images';
import { repoRoot } from './helpers';
import { makeTinyData } from './finetune/tiny_data';

// what `require('itpn')` loads: the package's "main", resolved from the repository root like an installed package
type Itpn = typeof import('../src/index');
const itpn = require(repoRoot) as Itpn; // eslint-disable-line @typescript-eslint/no-require-imports

const data = makeTinyData({ classes: 3, train: 8, val: 4 });
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'itpn-api-'));
after(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.rmSync(data, { recursive: true, force: true });
});
const quiet = () => undefined;

test('package.json main and types point at the built entry point', () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8'));
  assert.equal(require.resolve(repoRoot), path.join(repoRoot, pkg.main));
  assert.ok(fs.existsSync(path.join(repoRoot, pkg.types)), `${pkg.types} is built`);
  for (const name of ['createCpuBackend', 'createReferenceBackend', 'tensor', 'tidy', 'noGrad', 'backward', 'Rng', 'taskConfig',
    'ITPNMaskedAutoencoder', 'ITPNClassifier', 'ITPNClipDistill', 'ITPNDenseBackbone', 'readPthStateDict', 'readSafetensors',
    'loadStateDict', 'loadClassifier', 'loadFeatureModel', 'computeFeatures', 'decodeImageFiles', 'pretrain', 'finetune'] as const) {
    assert.equal(typeof itpn[name], 'function', name);
  }
  assert.equal(typeof itpn.ops.matmul, 'function');
});

test('pre-train, pyramid features, fine-tune and classify through the API', async () => {
  const images = fs.readdirSync(path.join(data, 'val')).sort().map((c) => path.join(data, 'val', c, fs.readdirSync(path.join(data, 'val', c)).sort()[0]));
  const backend = itpn.createCpuBackend({ threads: 1 });
  const run = path.join(tmp, 'pretrain');
  const pre = await itpn.pretrain(backend, {
    data: path.join(data, 'train'), arch: 'itpn_tiny', imgSize: 64, batch: 4, accumIter: 1, steps: 2, blr: 1.5e-3, minLr: 0,
    warmupSteps: 1, weightDecay: 0.05, seed: 1, out: run, resume: false, workers: 1, vizEvery: 0, saveEvery: 0, maskRatio: 0.75,
  }, quiet);
  assert.equal(pre.steps, 2);

  const feats = await pyramidFeatures(run, images);
  const C = itpn.ARCHS.itpn_tiny.embed_dim, F = itpn.ARCHS.itpn_tiny.fpn_dim;
  assert.deepEqual([...feats.keys()], ['embedding', 'pyramid.s4', 'pyramid.s8', 'pyramid.s16', 'pyramid.s32', 'pyramid.s64']);
  assert.deepEqual(feats.get('embedding')!.shape, [3, C]);
  for (const s of [4, 8, 16, 32, 64]) assert.deepEqual(feats.get(`pyramid.s${s}`)!.shape, [3, F, 64 / s, 64 / s]);
  for (const f of feats.values()) assert.ok(f.data.every(Number.isFinite));
  const emb = feats.get('embedding')!.data;
  assert.notDeepEqual(emb.subarray(0, C), emb.subarray(C, 2 * C), 'two images, two embeddings');

  const ftRun = path.join(tmp, 'finetune');
  await itpn.finetune(backend, {
    data: path.join(data, 'train'), val: path.join(data, 'val'), arch: 'itpn_tiny', imgSize: 64, init: { kind: 'weights', path: run },
    epochs: 1, warmupEpochs: 0, batch: 4, blr: 1e-3, minLr: 1e-6, weightDecay: 0.05, layerDecay: 0.75, dropPath: 0, mixup: 0,
    cutmix: 0, mixupProb: 0, mixupSwitchProb: 0.5, smoothing: 0.1, randAug: null, reprob: 0, seed: 2, out: ftRun, resume: false, workers: 1,
  }, quiet);
  const rows = await classifyImages(ftRun, [...images, path.join(tmp, 'missing.jpg')], 2);
  assert.deepEqual(rows.map((r) => r.path), images, 'the unreadable file is skipped');
  const names = fs.readFileSync(path.join(data, 'classes.tsv'), 'utf8').trim().split('\n').map((l) => l.split('\t')[1]);
  for (const r of rows) {
    assert.equal(r.top.length, 2);
    assert.ok(r.top[0].prob >= r.top[1].prob && r.top[0].prob + r.top[1].prob <= 1 + 1e-6);
    for (const t of r.top) assert.ok(names.includes(t.name), `${t.name} is a class name from classes.tsv`);
  }
});
