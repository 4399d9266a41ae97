// Backbone and pyramid features for users who bring their own heads (and for linear probing). A pre-training
// checkpoint has the pyramid: it is built as the detection backbone (ITPNDenseBackbone 'detection', spec §6.2)
// from the pre-training config and emits NCHW maps at strides 4, 8, 16 and, average-pooled, 32 and 64. Every
// checkpoint gives the pooled embedding: the mean of the main-stage output over tokens (before any fc_norm).
import type { Backend } from '../engine/backend';
import { Rng } from '../engine/random';
import type { Tensor } from '../engine/tensor';
import { mean } from '../ops';
import { ITPNBackbone } from '../models/itpn/backbone';
import type { ITPNConfig } from '../models/itpn/configs';
import { ITPNDenseBackbone } from '../models/itpn/dense';
import { taskConfig } from '../models/itpn/factory';
import { loadPretrainState } from './checkpoint_filter';
import { loadClassifier } from './model';
import { isClassifierState, pretrainConfigOf, readWeightFile } from './weights';

export const PYRAMID_STRIDES = [4, 8, 16, 32, 64];

export interface FeatureModel {
  model: ITPNBackbone;
  cfg: ITPNConfig;
  /** True when `forward` also returns the pyramid maps. */
  pyramid: boolean;
  /** One line for the log: what was loaded from where. */
  describe: string;
}

export interface FeatureOptions {
  /** Required for checkpoints without a config (official .pth); otherwise must match. */
  arch?: string;
  /** Input size; default the checkpoint's. */
  imgSize?: number;
  /** Build the pyramid when the checkpoint has one (false: backbone only, e.g. for probing). */
  withPyramid: boolean;
}

export function loadFeatureModel(backend: Backend, checkpoint: string, o: FeatureOptions): FeatureModel {
  const w = readWeightFile(checkpoint);
  if (isClassifierState(w.tensors)) {
    if (o.imgSize && w.meta && o.imgSize !== w.meta.config.img_size) throw new Error(`${w.file} is a classifier for ${w.meta.config.img_size}px input; --img-size ${o.imgSize} is not supported for it`);
    const { model, meta } = loadClassifier(backend, checkpoint, { arch: o.arch });
    return { model, cfg: meta.config, pyramid: false, describe: `${meta.arch} classifier ${w.file} (no pyramid: embedding only)` };
  }
  const { arch, config: base } = pretrainConfigOf(w, o.arch);
  const cfg: ITPNConfig = { ...base, img_size: o.imgSize ?? base.img_size, drop_path_rate: 0 };
  const hasPyramid = w.tensors.has('fpn_modules.0.mlp.fc1.weight');
  const pyramid = o.withPyramid && hasPyramid;
  const ctx = { backend, rng: new Rng(0), shapeOnly: true };
  const model = pyramid ? new ITPNDenseBackbone(ctx, cfg, 'detection', PYRAMID_STRIDES.length) : new ITPNBackbone(ctx, cfg, { pyramid: false });
  try {
    loadPretrainState(model, w.tensors, pyramid ? 'pyramid' : 'backbone', w.file);
  } catch (e) {
    model.dispose();
    throw e;
  }
  model.eval();
  return { model, cfg, pyramid, describe: `${arch} pre-training checkpoint ${w.file} (${pyramid ? 'backbone + pyramid' : 'backbone'}, ${cfg.img_size}px)` };
}

/** A randomly initialised backbone (the baseline of linear probing). */
export function randomFeatureModel(backend: Backend, arch: string, imgSize: number, seed: number): FeatureModel {
  const cfg = taskConfig(arch, 'pixel', { img_size: imgSize });
  const model = new ITPNBackbone({ backend, rng: new Rng(seed) }, cfg, { pyramid: false });
  model.eval();
  return { model, cfg, pyramid: false, describe: `${arch} with random weights (seed ${seed})` };
}

/** `embedding` [B, C] and, with the pyramid, `pyramid.s4` … `pyramid.s64` [B, F, H/s, W/s]. */
export function computeFeatures(fm: FeatureModel, images: Tensor): Map<string, Tensor> {
  const feats = fm.model.forwardFeatures(images);
  const out = new Map<string, Tensor>([['embedding', mean(feats.x, 1)]]);
  if (fm.pyramid && fm.model instanceof ITPNDenseBackbone) {
    fm.model.forwardMaps(feats).forEach((m, i) => out.set(`pyramid.s${PYRAMID_STRIDES[i]}`, m));
  }
  return out;
}
