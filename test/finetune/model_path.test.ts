// The fine-tuning model path against the official implementation's `classify` fixture (logits, loss and every
// gradient within the fixtures README tolerance), and loading pre-training states into it: the dropped keys, the
// asserted missing keys, the bicubic resize of absolute_pos_embed, and loud refusals.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createCpuBackend } from '../../src/backends/cpu/cpu_backend';
import { createReferenceBackend } from '../../src/backends/reference/reference_backend';
import type { Backend } from '../../src/engine/backend';
import { backward } from '../../src/engine/autograd';
import { Rng } from '../../src/engine/random';
import { tidy } from '../../src/engine/scope';
import { toF32, toI32, type RawTensor } from '../../src/io/raw_tensor';
import { writeSafetensors } from '../../src/io/safetensors';
import { tensor } from '../../src/ops';
import { exportStateDict } from '../../src/models/load_state_dict';
import { taskConfig } from '../../src/models/itpn/factory';
import { ITPNMaskedAutoencoder } from '../../src/models/itpn/pixel_mim';
import { readFixture } from '../../src/parity/fixture';
import { compareTensor, TOLERANCE } from '../../src/parity/run_parity';
import { classificationLoss, classifierConfig, createClassifier } from '../../src/finetune/model';
import { loadPretrainState } from '../../src/finetune/checkpoint_filter';
import { readWeightFile, type WeightFile } from '../../src/finetune/weights';
import { fixturesDir } from '../helpers';

const classifyDir = path.join(fixturesDir, 'classify');

describe('the classify fixture through the fine-tuning model path', () => {
  const backends: Array<[string, () => Backend]> = [['cpu', () => createCpuBackend({ threads: 1 })], ['reference', () => createReferenceBackend()]];
  for (const [name, make] of backends) {
    test(`logits, loss and every gradient match (${name})`, () => {
      const fx = readFixture(classifyDir);
      const backend = make();
      tidy(() => {
        // as `itpn finetune` builds it: classification defaults (RPE on), the fixture's sizes, drop path 0
        const cfg = taskConfig('itpn_base', 'classify', { ...fx.config, drop_path_rate: 0 });
        const weights = readWeightFile(path.join(classifyDir, 'weights.safetensors'));
        const { model } = createClassifier({ backend, rng: new Rng(0) }, cfg, weights);
        const images = fx.inputs.get('images')!;
        const labels = fx.inputs.get('labels')!;
        const logits = model.forward(tensor(backend, toF32(images), images.shape));
        const loss = classificationLoss(logits, { kind: 'labels', labels: tensor(backend, toI32(labels), labels.shape, 'int32') }, 0);
        backward(loss);
        const params = new Map(model.namedParameters());
        const comparisons = [compareTensor('logits', logits.toArray(), fx.outputs.get('logits')!, false), compareTensor('loss', loss.toArray(), fx.outputs.get('loss')!, false)];
        let grads = 0;
        for (const [k, ref] of fx.outputs) {
          if (!k.startsWith('grad.')) continue;
          const p = params.get(k.slice(5));
          assert.ok(p?.grad, `no gradient for ${k}`);
          comparisons.push(compareTensor(k, p.grad.toArray(), ref, false));
          grads++;
        }
        assert.equal(grads, params.size, 'the fixture has a gradient for every parameter');
        const bad = comparisons.filter((c) => !c.ok).map((c) => `${c.name}: rel ${c.relError.toExponential(3)} > ${TOLERANCE}`);
        assert.deepEqual(bad, []);
        model.dispose();
      });
    });
  }
});

/** A tiny pixel pre-training state (official key names, all its heads) at `imgSize`. */
function pixelState(backend: Backend, imgSize: number): Map<string, RawTensor> {
  const model = new ITPNMaskedAutoencoder({ backend, rng: new Rng(7) }, taskConfig('itpn_tiny', 'pixel', { img_size: imgSize }));
  const sd = exportStateDict(model);
  model.dispose();
  return sd;
}

const asWeights = (tensors: Map<string, RawTensor>): WeightFile => ({ file: 'test-state', tensors, meta: null, pretrainConfig: null });

/** PyTorch's F.interpolate(bicubic, size, align_corners=False) in 1-D, written out: A = −0.75, taps clamped. */
function bicubicMatrix(n: number, m: number): number[][] {
  const A = -0.75;
  const k = (x: number) => {
    x = Math.abs(x);
    return x <= 1 ? ((A + 2) * x - (A + 3)) * x * x + 1 : x < 2 ? ((A * x - 5 * A) * x + 8 * A) * x - 4 * A : 0;
  };
  return Array.from({ length: m }, (_, o) => {
    const src = (o + 0.5) * (n / m) - 0.5;
    const row = new Array<number>(n).fill(0);
    const i0 = Math.floor(src);
    for (let t = i0 - 1; t <= i0 + 2; t++) row[Math.min(n - 1, Math.max(0, t))] += k(src - t);
    return row;
  });
}

describe('loading a pre-training state into the classifier', () => {
  const backend = createCpuBackend({ threads: 1 });

  test('keeps the backbone, drops the pre-training keys, leaves exactly fc_norm, head and the RPE tables new', () => {
    const sd = pixelState(backend, 32);
    const cfg = classifierConfig({ arch: 'itpn_tiny', imgSize: 32, numClasses: 5, dropPath: 0.1 }, sd);
    const { model } = createClassifier({ backend, rng: new Rng(1) }, cfg, asWeights(sd));
    const r = loadPretrainState(model, sd, 'classifier', 'again'); // the report of the same load, for its lists
    assert.deepEqual(r.missing.sort(), [
      ...Array.from({ length: 6 }, (_, i) => `blocks.${i + 4}.attn.relative_position_bias_table`),
      'fc_norm.bias', 'fc_norm.weight', 'head.bias', 'head.weight', 'relative_position_index',
    ].sort());
    assert.ok(r.dropped.includes('mask_token') && r.dropped.includes('decoder_pred.weight') && r.dropped.includes('fpn_modules.0.mlp.fc1.weight'));
    assert.ok(r.dropped.every((k) => /^(mask_token|decoder|align_dim|fpn_modules|split_|block_16to8|block_8to4)/.test(k)), r.dropped.join(', '));
    const own = model.stateDict();
    for (const k of r.loaded) assert.deepEqual(own.get(k)!.toFloat32Array(), toF32(sd.get(k)!), k);
    for (let i = 4; i < 10; i++) assert.ok(own.get(`blocks.${i}.attn.relative_position_bias_table`)!.toFloat32Array().every((v) => v === 0), 'zero RPE tables');
    model.dispose();
  });

  test('absolute_pos_embed is resized bicubically (target size, align_corners false) when the grid differs', () => {
    const sd = pixelState(backend, 32); // 2×2 grid
    const cfg = classifierConfig({ arch: 'itpn_tiny', imgSize: 64, numClasses: 5, dropPath: 0 }, sd); // 4×4 grid
    const { model, note } = createClassifier({ backend, rng: new Rng(1) }, cfg, asWeights(sd));
    assert.match(note, /absolute_pos_embed resized 4 → 16 tokens/);
    const src = toF32(sd.get('absolute_pos_embed')!), C = 192;
    const M = bicubicMatrix(2, 4);
    const got = model.absolute_pos_embed.toFloat32Array();
    for (let oy = 0; oy < 4; oy++) for (let ox = 0; ox < 4; ox++) for (let c = 0; c < C; c++) {
      let want = 0;
      for (let iy = 0; iy < 2; iy++) for (let ix = 0; ix < 2; ix++) want += M[oy][iy] * M[ox][ix] * src[(iy * 2 + ix) * C + c];
      assert.ok(Math.abs(got[(oy * 4 + ox) * C + c] - want) < 1e-5, `(${oy},${ox},${c}): ${got[(oy * 4 + ox) * C + c]} vs ${want}`);
    }
    model.dispose();
  });

  test('another architecture is refused with the mismatching keys and shapes; nothing is written', () => {
    const sd = pixelState(backend, 32);
    const cfg = classifierConfig({ arch: 'itpn_small', imgSize: 32, numClasses: 5, dropPath: 0 }, sd);
    assert.throws(() => createClassifier({ backend, rng: new Rng(1) }, cfg, asWeights(sd)),
      (e: Error) => /shape mismatches/.test(e.message) && /patch_embed\.proj\.weight: checkpoint \[48, 3, 4, 4\] vs model \[96, 3, 4, 4\]/.test(e.message) && /missing keys/.test(e.message));
    const extra = new Map(sd);
    extra.set('some_new_head.weight', { dtype: 'F32', shape: [2], data: new Float32Array(2) });
    const ok = classifierConfig({ arch: 'itpn_tiny', imgSize: 32, numClasses: 5, dropPath: 0 }, sd);
    assert.throws(() => createClassifier({ backend, rng: new Rng(1) }, ok, asWeights(extra)), /keys the model lacks \(1\):\s+some_new_head\.weight \[2\]/);
  });

  test('an official torch.save .pth pre-training checkpoint loads into the classifier (the pixel-pretrain fixture)', () => {
    const dir = path.join(fixturesDir, 'pixel-pretrain');
    const fxConfig = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
    const w = readWeightFile(path.join(dir, 'weights.pth'));
    const cfg = taskConfig('itpn_base', 'classify', { ...fxConfig, num_classes: 7, drop_path_rate: 0.1 });
    const { model, note } = createClassifier({ backend, rng: new Rng(2) }, cfg, w);
    assert.match(note, /dropped \d+ pre-training keys; new: .*fc_norm\.weight/);
    const own = model.stateDict();
    for (const k of ['absolute_pos_embed', 'patch_embed.proj.weight', 'blocks.3.reduction.weight', 'blocks.5.attn.qkv.weight']) {
      assert.deepEqual(own.get(k)!.toFloat32Array(), toF32(w.tensors.get(k)!), k);
    }
    model.dispose();
  });

  test('an itpn pre-training checkpoint folder and its model.safetensors load the same way', () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'itpn-ft-load-'));
    const sd = pixelState(backend, 32);
    fs.mkdirSync(path.join(tmp, 'checkpoint'));
    writeSafetensors(path.join(tmp, 'checkpoint', 'model.safetensors'), sd);
    fs.writeFileSync(path.join(tmp, 'config.json'), JSON.stringify({ arch: 'itpn_tiny', task: 'pixel', config: taskConfig('itpn_tiny', 'pixel', { img_size: 32 }) }));
    const a = readWeightFile(tmp), b = readWeightFile(path.join(tmp, 'checkpoint'));
    assert.equal(a.file, path.join(tmp, 'checkpoint', 'model.safetensors'));
    assert.equal(a.file, b.file);
    assert.equal(a.pretrainConfig?.arch, 'itpn_tiny');
    assert.equal(a.meta, null);
    fs.rmSync(tmp, { recursive: true, force: true });
  });
});
