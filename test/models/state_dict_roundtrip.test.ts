// State dicts: export → safetensors → load into a differently initialised model gives bit-identical outputs;
// the official .pth checkpoint of the pixel-pretrain fixture reproduces the fixture's forward; and loading
// errors name the offending keys and shapes (strict and non-strict).
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Rng } from '../../src/engine/random';
import { noGrad, tidy } from '../../src/engine/scope';
import type { Tensor } from '../../src/engine/tensor';
import { createReferenceBackend } from '../../src/backends/reference/reference_backend';
import { tensor } from '../../src/ops';
import { readSafetensors, writeSafetensors } from '../../src/io/safetensors';
import { readPthStateDict } from '../../src/io/pth';
import { toF32, type RawTensor } from '../../src/io/raw_tensor';
import { exportStateDict, loadStateDict } from '../../src/models/load_state_dict';
import { ARCHS, resolveConfig, type ITPNConfig } from '../../src/models/itpn/configs';
import { buildModel, taskConfig, type ITPNModel, type Task } from '../../src/models/itpn/factory';
import { ITPNClassifier } from '../../src/models/itpn/classifier';
import { ITPNMaskedAutoencoder } from '../../src/models/itpn/pixel_mim';

const repoRoot = path.resolve(__dirname, '../../..');
const fixturesDir = path.join(repoRoot, 'test', 'fixtures');
const backend = createReferenceBackend();

const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'itpn-sd-'));
after(() => fs.rmSync(tmpDir, { recursive: true, force: true }));

function randomArray(n: number, rng: Rng, kind: 'normal' | 'uniform'): Float32Array {
  const a = new Float32Array(n);
  if (kind === 'normal') rng.fillNormal(a, 0, 1);
  else for (let i = 0; i < n; i++) a[i] = rng.uniform();
  return a;
}

/** Index and values of the first element where a and b differ bit-for-bit (null when identical). */
function firstDifference(a: ArrayLike<number>, b: ArrayLike<number>): string | null {
  if (a.length !== b.length) return `lengths ${a.length} vs ${b.length}`;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return `index ${i}: ${a[i]} vs ${b[i]}`;
  return null;
}

function relL2(ours: ArrayLike<number>, ref: ArrayLike<number>): number {
  assert.equal(ours.length, ref.length, 'element counts differ');
  let num = 0, den = 0;
  for (let i = 0; i < ref.length; i++) {
    num += (ours[i] - ref[i]) ** 2;
    den += ref[i] ** 2;
  }
  return Math.sqrt(num) / Math.max(Math.sqrt(den), 1e-30);
}

// ---------------------------------------------------------------------------------------------------------------
// (a) export → safetensors file → load into a model with another seed → identical outputs

interface Case {
  task: Task;
  cfg: ITPNConfig;
  /** The forward outputs compared, as plain arrays (computed without autograd). */
  run: (model: ITPNModel) => Record<string, Float32Array | Float64Array | Int32Array>;
}

const B = 2, IMG = 32;
const inputRng = new Rng(7);
const images = randomArray(B * 3 * IMG * IMG, inputRng, 'normal');
const noise = randomArray(B * (IMG / 16) ** 2, inputRng, 'uniform');

const cases: Case[] = [
  {
    task: 'classify',
    cfg: taskConfig('itpn_tiny', 'classify', { img_size: IMG, num_classes: 5 }),
    run: (model) => noGrad(() => tidy(() => {
      const logits = (model as ITPNClassifier).forward(tensor(backend, images, [B, 3, IMG, IMG]));
      assert.deepEqual(logits.shape, [B, 5]);
      return { logits: logits.toArray() as Float32Array };
    })),
  },
  {
    task: 'pixel',
    cfg: taskConfig('itpn_tiny', 'pixel', { img_size: IMG }),
    run: (model) => noGrad(() => tidy(() => {
      const out = (model as ITPNMaskedAutoencoder).forward(tensor(backend, images, [B, 3, IMG, IMG]), tensor(backend, noise, [B, (IMG / 16) ** 2]));
      const r: Record<string, Float32Array | Float64Array | Int32Array> = {
        pred: out.pred.toArray() as Float32Array,
        loss: out.loss.toArray() as Float32Array,
      };
      out.pyramid.forEach((p: Tensor, i: number) => { r[`pyramid.${i}`] = p.toArray() as Float32Array; });
      return r;
    })),
  },
];

describe('state dict round trip through safetensors', () => {
  for (const c of cases) {
    test(`itpn_tiny ${c.task} at ${IMG}px: reloaded model gives identical outputs`, () => {
      const a = buildModel({ backend, rng: new Rng(1) }, c.cfg, c.task);
      const b = buildModel({ backend, rng: new Rng(2) }, c.cfg, c.task);
      try {
        a.eval();
        b.eval();
        const outA = c.run(a);
        const before = c.run(b);
        // the second model really starts out different (otherwise the test proves nothing)
        assert.notEqual(firstDifference(outA[Object.keys(outA)[0]], before[Object.keys(before)[0]]), null, 'models with different seeds agree before loading');

        const exported = exportStateDict(a);
        assert.equal(exported.size, a.namedTensors().length);
        const file = path.join(tmpDir, `${c.task}.safetensors`);
        writeSafetensors(file, exported);
        const sd = readSafetensors(file).tensors;
        assert.deepEqual([...sd.keys()].sort(), [...exported.keys()].sort());
        for (const [k, t] of exported) {
          const r = sd.get(k)!;
          assert.equal(r.dtype, t.dtype, `${k}: dtype`);
          assert.deepEqual(r.shape, t.shape, `${k}: shape`);
        }
        if (c.task === 'classify') {
          // classifiers have relative position bias, so the int64 index buffer goes through the file too
          const idx = [...sd.keys()].filter((k) => k.endsWith('relative_position_index'));
          assert.ok(idx.length > 0, 'no relative_position_index buffer in the classifier state dict');
          for (const k of idx) assert.equal(sd.get(k)!.dtype, 'I64');
        }

        const report = loadStateDict(b, sd);
        assert.deepEqual(report.missing, []);
        assert.deepEqual(report.unexpected, []);
        assert.equal(report.loaded.length, exported.size);

        // every tensor is now bit-identical, and so is every output
        for (const [k, t] of exportStateDict(b)) {
          const d = firstDifference(t.data, exported.get(k)!.data);
          assert.equal(d, null, `${k} after loading: ${d}`);
        }
        const outB = c.run(b);
        assert.deepEqual(Object.keys(outB), Object.keys(outA));
        for (const k of Object.keys(outA)) {
          const d = firstDifference(outB[k], outA[k]);
          assert.equal(d, null, `${c.task} output ${k} differs after the round trip: ${d}`);
        }
      } finally {
        a.dispose();
        b.dispose();
      }
    });
  }
});

// ---------------------------------------------------------------------------------------------------------------
// (b) the official torch.save checkpoint of the pixel-pretrain fixture

test('pixel-pretrain weights.pth reproduces the fixture pred and loss', () => {
  const dir = path.join(fixturesDir, 'pixel-pretrain');
  const config = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
  const sd = readPthStateDict(path.join(dir, 'weights.pth'));
  const inputs = readSafetensors(path.join(dir, 'inputs.safetensors')).tensors;
  const outputs = readSafetensors(path.join(dir, 'outputs.safetensors')).tensors;
  const model = new ITPNMaskedAutoencoder({ backend, rng: new Rng(0) }, resolveConfig(ARCHS.itpn_base, config));
  try {
    const report = loadStateDict(model, sd, { source: 'weights.pth' });
    assert.equal(report.loaded.length, model.namedTensors().length);
    const raw = (name: string): RawTensor => {
      const t = inputs.get(name);
      assert.ok(t, `inputs.safetensors lacks ${name}`);
      return t;
    };
    const { pred, loss } = noGrad(() => tidy(() => {
      const out = model.forward(tensor(backend, toF32(raw('images')), raw('images').shape), tensor(backend, toF32(raw('noise')), raw('noise').shape));
      return { pred: out.pred.toArray(), loss: out.loss.toArray() };
    }));
    const refPred = outputs.get('pred')!, refLoss = outputs.get('loss')!;
    assert.equal(pred.length, refPred.data.length);
    const ePred = relL2(pred, refPred.data), eLoss = relL2(loss, refLoss.data);
    assert.ok(ePred <= 1e-4, `pred relative L2 ${ePred.toExponential(3)} > 1e-4`);
    assert.ok(eLoss <= 1e-4, `loss ${loss[0]} vs ${refLoss.data[0]} (relative ${eLoss.toExponential(3)})`);
  } finally {
    model.dispose();
  }
});

// ---------------------------------------------------------------------------------------------------------------
// (c) loading errors

describe('loadStateDict errors', () => {
  const classifyCfg = JSON.parse(fs.readFileSync(path.join(fixturesDir, 'classify', 'config.json'), 'utf8')) as Record<string, unknown>;
  const cfg = resolveConfig(ARCHS.itpn_base, classifyCfg);
  const donor = new ITPNClassifier({ backend, rng: new Rng(11) }, cfg);
  const good = exportStateDict(donor);
  donor.dispose();
  const fresh = () => new ITPNClassifier({ backend, rng: new Rng(12) }, cfg);
  const KEY = 'head.weight';
  const shapeRe = (s: number[]) => new RegExp(`[\\[(]${s.join(',\\s*')}[\\])]`);

  test('a tensor of the wrong shape: error names the key and both shapes, model untouched', () => {
    const right = good.get(KEY);
    assert.ok(right, `${KEY} not in the classifier state dict`);
    const wrongShape = [right.shape[0], right.shape[1] + 1];
    const bad = new Map(good);
    bad.set(KEY, { dtype: 'F32', shape: wrongShape, data: new Float32Array(wrongShape[0] * wrongShape[1]) });
    for (const strict of [true, false]) {
      const model = fresh();
      try {
        const before = exportStateDict(model);
        assert.throws(() => loadStateDict(model, bad, { strict, source: 'bad.safetensors' }), (e: Error) => {
          assert.match(e.message, new RegExp(KEY.replace('.', '\\.')));
          assert.match(e.message, shapeRe(wrongShape), `checkpoint shape missing from: ${e.message}`);
          assert.match(e.message, shapeRe(right.shape), `model shape missing from: ${e.message}`);
          assert.match(e.message, /bad\.safetensors/);
          return true;
        });
        // the checks come before any assignment: a rejected checkpoint changes nothing
        for (const [k, t] of exportStateDict(model)) assert.equal(firstDifference(t.data, before.get(k)!.data), null, `${k} changed by a failed load`);
      } finally {
        model.dispose();
      }
    }
  });

  test('a missing key in strict mode: error names it', () => {
    const sd = new Map(good);
    sd.delete('head.bias');
    const model = fresh();
    try {
      assert.throws(() => loadStateDict(model, sd), (e: Error) => {
        assert.match(e.message, /missing/);
        assert.match(e.message, /head\.bias/);
        return true;
      });
    } finally {
      model.dispose();
    }
  });

  test('an unexpected key in strict mode: error names it', () => {
    const sd = new Map(good);
    sd.set('bogus.weight', { dtype: 'F32', shape: [2], data: new Float32Array(2) });
    const model = fresh();
    try {
      assert.throws(() => loadStateDict(model, sd), (e: Error) => {
        assert.match(e.message, /unexpected/);
        assert.match(e.message, /bogus\.weight/);
        return true;
      });
    } finally {
      model.dispose();
    }
  });

  test('non-strict: loads the rest and reports missing and unexpected keys', () => {
    const sd = new Map(good);
    sd.delete('head.bias');
    sd.set('bogus.weight', { dtype: 'F32', shape: [2], data: new Float32Array(2) });
    const model = fresh();
    try {
      const biasBefore = model.stateDict().get('head.bias')!.toArray().slice();
      const report = loadStateDict(model, sd, { strict: false });
      assert.deepEqual(report.missing, ['head.bias']);
      assert.deepEqual(report.unexpected, ['bogus.weight']);
      assert.equal(report.loaded.length, good.size - 1);
      assert.ok(!report.loaded.includes('bogus.weight'));
      const after = exportStateDict(model);
      for (const k of report.loaded) assert.equal(firstDifference(after.get(k)!.data, good.get(k)!.data), null, `${k} not loaded`);
      assert.equal(firstDifference(after.get('head.bias')!.data, biasBefore), null, 'the missing key kept its own value');
    } finally {
      model.dispose();
    }
  });
});
