// Masked feature modeling: level targets in the pyramid layout, the masked-only loss, the pixel decoder path kept
// equal to the plain model, and `itpn pretrain --mfm` with an itpn checkpoint as teacher (self-distillation):
// runs, logs loss_mfm, saves mfm_heads.*, and resumes exactly.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Rng } from '../../src/engine/random';
import { backward } from '../../src/engine/autograd';
import { createCpuBackend } from '../../src/backends/cpu/cpu_backend';
import { createReferenceBackend } from '../../src/backends/reference/reference_backend';
import { readSafetensors } from '../../src/io/safetensors';
import { layerNorm, permute, reshape, resize2d, tensor } from '../../src/ops';
import { levelToNCHW } from '../../src/models/itpn/backbone';
import { taskConfig } from '../../src/models/itpn/factory';
import { ITPNMaskedAutoencoder, maskingNoise } from '../../src/models/itpn/pixel_mim';
import { ITPNMaskedAutoencoderMFM, levelTarget, mfmLoss, type MFMConfig } from '../../src/models/itpn/mfm';
import { pretrain, type PretrainOptions } from '../../src/pretrain/run';
import { loadTeacher } from '../../src/pretrain/teacher';
import { randTensor, relL2, repoRoot } from '../helpers';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'itpn-mfm-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const ref = createReferenceBackend();

test('levelTarget: s = 1 is LN(tokens); s = 2, 4 are the bilinear-upsampled token map, LN per position, in the pyramid layout', () => {
  const rng = new Rng(2);
  const [B, Hp, Wp, T] = [2, 2, 3, 5];
  const tokens = randTensor(ref, [B, Hp * Wp, T], rng, 'float32');
  assert.deepEqual(levelTarget(tokens, Hp, Wp, 1).toArray(), layerNorm(reshape(tokens, [B, Hp * Wp, 1, 1, T]), null, null, 1e-5).toArray());
  for (const s of [2, 4]) {
    const got = levelTarget(tokens, Hp, Wp, s); // [B, N, s, s, T]
    assert.deepEqual(got.shape, [B, Hp * Wp, s, s, T]);
    const map = resize2d(permute(reshape(tokens, [B, Hp, Wp, T]), [0, 3, 1, 2]), { mode: 'bilinear', size: [Hp * s, Wp * s] });
    const expected = permute(layerNorm(permute(map, [0, 2, 3, 1]), null, null, 1e-5), [0, 3, 1, 2]); // LN over T, NCHW
    assert.ok(relL2(levelToNCHW(got, Hp, Wp).toArray(), expected.toArray()) < 1e-6, `s = ${s}`);
  }
});

test('mfmLoss: mean over masked positions only, weighted per level; unmasked predictions do not matter', () => {
  const rng = new Rng(4);
  const [B, N, T] = [2, 4, 3];
  const shapes = [1, 2, 4].map((s) => [B, N, s, s, T]);
  const preds = shapes.map((sh) => randTensor(ref, sh, rng, 'float32'));
  const targets = shapes.map((sh) => randTensor(ref, sh, rng, 'float32'));
  const maskArr = Float32Array.from([1, 0, 0, 1, 0, 1, 0, 0]);
  const mask = tensor(ref, maskArr, [B, N]);
  const cfg: MFMConfig = { targetDims: [T, T, T], weights: [1, 0.5, 2], loss: 'mse' };
  const { loss, levels } = mfmLoss(preds, targets, mask, cfg);
  levels.forEach((l, i) => {
    const p = preds[i].toArray(), t = targets[i].toArray();
    const per = p.length / (B * N);
    let acc = 0, n = 0;
    for (let j = 0; j < p.length; j++) if (maskArr[Math.floor(j / per)]) { acc += (p[j] - t[j]) ** 2; n++; }
    assert.ok(Math.abs(l.item() - acc / n) < 1e-5, `level ${i}: ${l.item()} vs ${acc / n}`);
  });
  assert.ok(Math.abs(loss.item() - (levels[0].item() + 0.5 * levels[1].item() + 2 * levels[2].item())) < 1e-5);
  // changing an unmasked token's prediction leaves the loss as it was
  const p0 = preds[1].toFloat32Array().slice();
  p0.fill(100, (p0.length / (B * N)) * 1, (p0.length / (B * N)) * 2); // token 1 of sample 0 is unmasked
  const again = mfmLoss([preds[0], tensor(ref, p0, preds[1].shape), preds[2]], targets, mask, { ...cfg, loss: 'smooth_l1' });
  const before = mfmLoss(preds, targets, mask, { ...cfg, loss: 'smooth_l1' });
  assert.equal(again.loss.item(), before.loss.item());
});

test('pixel MFM: the decoder path gives the plain model\'s prediction and loss; the heads get gradients', () => {
  const cfg = taskConfig('itpn_tiny', 'pixel', { img_size: 32 });
  const mfm: MFMConfig = { targetDims: [8, 8, 4], weights: [1, 1, 1], loss: 'smooth_l1' };
  const withHeads = new ITPNMaskedAutoencoderMFM({ backend: ref, rng: new Rng(1) }, cfg, mfm);
  const plain = new ITPNMaskedAutoencoder({ backend: ref, rng: new Rng(1) }, cfg);
  const keys = [...withHeads.stateDict().keys()];
  assert.deepEqual(keys.filter((k) => !k.startsWith('mfm_heads.')), [...plain.stateDict().keys()]); // same init, heads after
  assert.deepEqual(keys.filter((k) => k.startsWith('mfm_heads.')), [0, 1, 2].flatMap((i) => [`mfm_heads.${i}.0.weight`, `mfm_heads.${i}.0.bias`, `mfm_heads.${i}.1.weight`, `mfm_heads.${i}.1.bias`]));
  assert.deepEqual(withHeads.mfm_heads[2][1].weight.shape, [4, cfg.decoder_embed_dim / 16]);
  const rng = new Rng(3);
  const imgs = randTensor(ref, [2, 3, 32, 32], rng, 'float32');
  const noise = maskingNoise(ref, 2, 4, () => rng.uniform());
  const targets = [1, 2, 4].map((s, i) => randTensor(ref, [2, 4, s, s, mfm.targetDims[i]], rng, 'float32'));
  const a = plain.forward(imgs, noise);
  const b = withHeads.forwardMFM(imgs, noise, targets);
  assert.deepEqual(b.pred.toArray(), a.pred.toArray());
  assert.equal(b.loss_pixel.item(), a.loss.item());
  assert.ok(Math.abs(b.loss.item() - a.loss.item() - b.loss_mfm.item()) < 1e-6);
  backward(b.loss);
  for (const [name, t] of withHeads.namedParameters()) if (name.startsWith('mfm_heads.')) assert.ok(t.grad && t.grad.toArray().some((v) => v !== 0), `no gradient for ${name}`);
});

test('itpn pretrain --mfm, pixel variant, itpn checkpoint teacher: loss_mfm logged, mfm_heads saved, resume exact', async () => {
  const backend = createCpuBackend({ threads: 1 });
  const quiet = () => undefined;
  const data = path.join(repoRoot, 'data', 'imagenette-mini', 'val');
  const base = (out: string): PretrainOptions => ({
    data, arch: 'itpn_tiny', imgSize: 32, batch: 4, accumIter: 1, steps: 4, blr: 1.5e-3, minLr: 0, warmupSteps: 1,
    weightDecay: 0.05, seed: 8, out, resume: false, workers: 1, vizEvery: 0, saveEvery: 0, maskRatio: 0.75,
  });
  const teacherRun = path.join(tmp, 'teacher');
  await pretrain(backend, { ...base(teacherRun), steps: 1 }, quiet); // a pixel checkpoint with its config.json
  const teacher = loadTeacher(backend, { path: teacherRun, input: 'clip' });
  assert.equal(teacher.kind, 'itpn');
  assert.equal(teacher.finalDim, 192);
  const mfmRun = (out: string): PretrainOptions => ({
    ...base(out), teacher: { path: path.join(teacherRun, 'checkpoint', 'model.safetensors'), input: 'clip' },
    mfm: { weights: [1, 0.5, 0.25], layers: [null, 3, 1], loss: 'smooth_l1' },
  });
  const a = path.join(tmp, 'a'), b = path.join(tmp, 'b');
  await pretrain(backend, mfmRun(a), quiet);
  const read = (d: string) => fs.readFileSync(path.join(d, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const log = read(a);
  assert.equal(log.length, 4);
  for (const r of log) {
    for (const k of ['loss_pixel', 'loss_mfm', 'loss_mfm_0', 'loss_mfm_1', 'loss_mfm_2']) assert.equal(typeof r[k], 'number', k);
    assert.ok(r.loss_mfm > 0);
    assert.ok(Math.abs(r.loss - r.loss_pixel - r.loss_mfm) < 1e-5);
    assert.ok(Math.abs(r.loss_mfm - (r.loss_mfm_0 + 0.5 * r.loss_mfm_1 + 0.25 * r.loss_mfm_2)) < 1e-5);
  }
  const w = readSafetensors(path.join(a, 'checkpoint', 'model.safetensors')).tensors;
  assert.deepEqual(w.get('mfm_heads.0.1.weight')!.shape, [192, 192]); // final teacher tokens: C 192, from D 192
  assert.deepEqual(w.get('mfm_heads.2.1.weight')!.shape, [192, 12]); // tap of block 1: C 192, from D/16
  assert.ok(fs.existsSync(path.join(a, 'reconstruction.png')));
  await pretrain(backend, { ...mfmRun(b), stopAt: 2 }, quiet);
  await pretrain(backend, { ...mfmRun(b), resume: true }, quiet);
  const wb = readSafetensors(path.join(b, 'checkpoint', 'model.safetensors')).tensors;
  for (const [name, t] of w) assert.deepEqual(wb.get(name)!.data, t.data, `weights differ after resume: ${name}`);
  assert.deepEqual(read(b).map((r) => r.loss_mfm), log.map((r) => r.loss_mfm));
});
