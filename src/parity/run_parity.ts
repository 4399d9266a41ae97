// The parity check: build the model a fixture describes, load its weights, run forward, loss and backward, and
// compare every named output and every parameter gradient with the official implementation's values.
// Tolerance (fixtures README): relative L2 ≤ 1e-4 for float tensors, exact equality for integer outputs.
import type { Backend } from '../engine/backend';
import { backward } from '../engine/autograd';
import { Rng } from '../engine/random';
import { tidy } from '../engine/scope';
import type { Tensor } from '../engine/tensor';
import { toF32, toI32, type RawTensor } from '../io/raw_tensor';
import { add, affine, mul, sum, tensor, crossEntropy } from '../ops';
import { loadStateDict } from '../models/load_state_dict';
import { ARCHS, resolveConfig } from '../models/itpn/configs';
import { ITPNMaskedAutoencoder } from '../models/itpn/pixel_mim';
import { ITPNClassifier } from '../models/itpn/classifier';
import { ITPNClipDistill } from '../models/itpn/clip_distill';
import { ITPNDenseBackbone } from '../models/itpn/dense';
import { ClipVisionTransformer } from '../models/clip_teacher';
import type { Module } from '../nn/module';
import { readFixture, type Fixture } from './fixture';

export const TOLERANCE = 1e-4;
/** The bound for --precision bf16 (GEMM inputs rounded to bfloat16, float32 accumulation). */
export const BF16_TOLERANCE = 1e-2;

export interface Comparison {
  name: string;
  shape: number[];
  relError: number;
  maxAbsDiff: number;
  exact: boolean; // integer comparison
  ok: boolean;
}

export interface ParityReport {
  dir: string;
  variant: string;
  backend: string;
  comparisons: Comparison[];
  missingOutputs: string[];
  ok: boolean;
}

type Computed = Map<string, { values: ArrayLike<number>; shape: number[]; integer: boolean }>;

function inputF32(fx: Fixture, name: string, backend: Backend): Tensor {
  const raw = fx.inputs.get(name);
  if (!raw) throw new Error(`fixture ${fx.dir}: inputs.safetensors lacks "${name}"`);
  return tensor(backend, raw.data instanceof Uint8Array ? Float32Array.from(raw.data) : toF32(raw), raw.shape);
}

function inputI32(fx: Fixture, name: string, backend: Backend): Tensor {
  const raw = fx.inputs.get(name);
  if (!raw) throw new Error(`fixture ${fx.dir}: inputs.safetensors lacks "${name}"`);
  return tensor(backend, toI32(raw), raw.shape, 'int32');
}

/** Σᵢ sum(outᵢ ⊙ wᵢ) / total elements: the dense fixtures' loss. */
function weightedLoss(fx: Fixture, outs: Tensor[], backend: Backend): Tensor {
  let total = 0;
  let acc: Tensor | null = null;
  outs.forEach((o, i) => {
    const s = sum(mul(o, inputF32(fx, `loss_weight.${i}`, backend)));
    acc = acc ? add(acc, s) : s;
    total += o.size;
  });
  return affine(acc!, 1 / total, 0);
}

function buildAndRun(fx: Fixture, backend: Backend, computed: Computed): Module {
  const ctx = { backend, rng: new Rng(0) };
  const cfgBase = ARCHS.itpn_base;
  const put = (name: string, t: Tensor, integer = false) => computed.set(name, { values: t.toArray(), shape: t.shape, integer });
  const images = () => inputF32(fx, 'images', backend);
  switch (fx.variant) {
    case 'pixel-pretrain': {
      const model = new ITPNMaskedAutoencoder(ctx, resolveConfig(cfgBase, fx.config));
      loadStateDict(model, fx.weights, { source: fx.dir });
      const out = model.forward(images(), inputF32(fx, 'noise', backend));
      put('loss', out.loss);
      put('pred', out.pred);
      put('mask', out.masking.mask, true);
      put('ids_keep', out.masking.idsKeep, true);
      put('ids_restore', out.masking.idsRestore, true);
      out.pyramid.forEach((p, i) => put(`pyramid.${i}`, p));
      backward(out.loss);
      return model;
    }
    case 'classify': {
      const model = new ITPNClassifier(ctx, resolveConfig(cfgBase, fx.config));
      loadStateDict(model, fx.weights, { source: fx.dir });
      const logits = model.forward(images());
      const loss = crossEntropy(logits, inputI32(fx, 'labels', backend));
      put('logits', logits);
      put('loss', loss);
      backward(loss);
      return model;
    }
    case 'clip-pretrain': {
      const model = new ITPNClipDistill(ctx, resolveConfig(cfgBase, fx.config));
      loadStateDict(model, fx.weights, { source: fx.dir });
      const out = model.forward(images(), inputF32(fx, 'bool_masked_pos', backend), inputF32(fx, 'target', backend));
      if (!('loss' in out)) throw new Error('unreachable');
      for (const k of ['loss', 'loss_1', 'loss_2', 'head_pyramid', 'head_aux'] as const) put(k, out[k]);
      backward(out.loss);
      return model;
    }
    case 'clip-teacher': {
      const c = fx.config as Record<string, number>;
      const model = new ClipVisionTransformer(ctx, { input_resolution: c.input_resolution, patch_size: c.patch_size, width: c.width, layers: c.layers, heads: c.heads, output_dim: c.output_dim });
      loadStateDict(model, fx.weights, { source: fx.dir });
      model.eval();
      const out = model.forward(images());
      put('patch_tokens_proj', out.patch_tokens_proj);
      put('target', out.target);
      put('pooled', out.pooled);
      return model;
    }
    case 'detection-backbone':
    case 'segmentation-backbone': {
      const kind = fx.variant === 'detection-backbone' ? 'detection' : 'segmentation';
      const numOuts = Number(fx.config.num_outs ?? (kind === 'detection' ? 5 : 4));
      const model = new ITPNDenseBackbone(ctx, resolveConfig(cfgBase, fx.config), kind, numOuts);
      loadStateDict(model, fx.weights, { source: fx.dir });
      const outs = model.forward(images());
      outs.forEach((o, i) => put(`out.${i}`, o));
      const loss = weightedLoss(fx, outs, backend);
      put('loss', loss);
      backward(loss);
      return model;
    }
  }
}

export function compareTensor(name: string, ours: ArrayLike<number>, ref: RawTensor, integer: boolean, tolerance = TOLERANCE): Comparison {
  const refValues: ArrayLike<number> = ref.data;
  let num = 0, den = 0, maxAbs = 0;
  const n = Math.min(ours.length, refValues.length);
  for (let i = 0; i < n; i++) {
    const d = ours[i] - refValues[i];
    num += d * d;
    den += refValues[i] * refValues[i];
    maxAbs = Math.max(maxAbs, Math.abs(d));
  }
  const sizeOk = ours.length === refValues.length;
  const relError = den > 0 ? Math.sqrt(num) / Math.sqrt(den) : Math.sqrt(num);
  const exact = integer || ref.dtype === 'I64' || ref.dtype === 'I32' || ref.dtype === 'BOOL';
  const ok = sizeOk && (exact ? maxAbs === 0 : relError <= tolerance && Number.isFinite(relError));
  return { name, shape: ref.shape, relError: sizeOk ? relError : Infinity, maxAbsDiff: maxAbs, exact, ok };
}

/** tolerance: the relative L2 bound for float outputs (the fixtures' 1e-4 by default; 1e-2 for bf16 GEMMs). */
export function runParity(dir: string, backend: Backend, tolerance = TOLERANCE): ParityReport {
  const fx = readFixture(dir);
  return tidy(() => {
    const computed: Computed = new Map();
    const model = buildAndRun(fx, backend, computed);
    const params = new Map(model.namedParameters());
    const comparisons: Comparison[] = [];
    const missingOutputs: string[] = [];
    for (const [name, ref] of fx.outputs) {
      if (name.startsWith('grad.')) {
        const p = params.get(name.slice(5));
        if (!p || !p.grad) {
          missingOutputs.push(name);
          continue;
        }
        comparisons.push(compareTensor(name, p.grad.toArray(), ref, false, tolerance));
      } else {
        const c = computed.get(name);
        if (!c) {
          missingOutputs.push(name);
          continue;
        }
        comparisons.push(compareTensor(name, c.values, ref, c.integer, tolerance));
      }
    }
    model.dispose();
    return {
      dir, variant: fx.variant, backend: backend.name, comparisons, missingOutputs,
      ok: missingOutputs.length === 0 && comparisons.every((c) => c.ok),
    };
  });
}
