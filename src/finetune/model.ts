// The fine-tuning model path (spec §1.9, §6.1): ITPNClassifier with relative position bias on, built for an
// architecture and class count, initialised from scratch, from a pre-training state (backbone kept, fc_norm and
// head new, zero RPE tables for pixel checkpoints) or from a fine-tuned classifier (strict); and its loss.
import type { Backend } from '../engine/backend';
import { Rng } from '../engine/random';
import type { Tensor } from '../engine/tensor';
import { crossEntropy, softTargetCrossEntropy } from '../ops';
import type { InitContext } from '../nn/init';
import { ITPNClassifier } from '../models/itpn/classifier';
import type { ITPNConfig } from '../models/itpn/configs';
import { taskConfig } from '../models/itpn/factory';
import { hasLayerScale } from '../models/itpn/state_config';
import { loadStateDict } from '../models/load_state_dict';
import type { RawTensor } from '../io/raw_tensor';
import { loadPretrainState } from './checkpoint_filter';
import { isClassifierState, readWeightFile, type ClassifierMeta, type WeightFile } from './weights';

/** Where the classifier's weights start. */
export type Init = { kind: 'scratch' } | { kind: 'weights'; path: string };

export function parseInit(from: string): Init {
  return from === 'scratch' ? { kind: 'scratch' } : { kind: 'weights', path: from };
}

export interface ClassifierSpec {
  arch: string;
  imgSize: number;
  numClasses: number;
  dropPath: number;
}

/** The classification config of `itpn finetune`: RPE on, the given drop path, layer scale when the weights have it. */
export function classifierConfig(spec: ClassifierSpec, weights: Map<string, RawTensor> | null): ITPNConfig {
  return taskConfig(spec.arch, 'classify', {
    img_size: spec.imgSize, num_classes: spec.numClasses, drop_path_rate: spec.dropPath,
    init_values: weights && hasLayerScale(weights) ? 0.1 : 0,
  });
}

export interface CreatedClassifier {
  model: ITPNClassifier;
  /** What was done with the weights, for the log. */
  note: string;
}

/**
 * Builds the classifier and loads `weights`: a fine-tuned classifier state strictly (same classes and shapes or an
 * error), a pre-training state through the filter (spec §8.3 loading map).
 */
export function createClassifier(ctx: InitContext, cfg: ITPNConfig, weights: WeightFile | null): CreatedClassifier {
  const model = new ITPNClassifier(ctx, cfg);
  if (!weights) return { model, note: 'random initialisation (from scratch)' };
  if (isClassifierState(weights.tensors)) {
    loadStateDict(model, weights.tensors, { source: weights.file });
    return { model, note: `all ${weights.tensors.size} tensors from the classifier ${weights.file}` };
  }
  const r = loadPretrainState(model, weights.tensors, 'classifier', weights.file);
  const resized = r.resizedPosEmbed ? `, absolute_pos_embed resized ${r.resizedPosEmbed[0]} → ${r.resizedPosEmbed[1]} tokens` : '';
  return { model, note: `${r.loaded.length} backbone tensors from ${weights.file} (dropped ${r.dropped.length} pre-training keys; new: ${r.missing.join(', ')}${resized})` };
}

/** Training targets: integer labels, or soft targets [B, classes] from mixup/cutmix (smoothing already applied). */
export type Targets = { kind: 'labels'; labels: Tensor } | { kind: 'soft'; targets: Tensor };

/**
 * MAE main_finetune.py's criterion: SoftTargetCrossEntropy with mixup, else LabelSmoothingCrossEntropy when
 * smoothing > 0, else plain cross-entropy.
 */
export function classificationLoss(logits: Tensor, targets: Targets, smoothing: number): Tensor {
  return targets.kind === 'soft' ? softTargetCrossEntropy(logits, targets.targets) : crossEntropy(logits, targets.labels, smoothing);
}

export interface LoadedClassifier {
  model: ITPNClassifier;
  meta: ClassifierMeta;
  file: string;
  /** False when the file carries no class list (an official .pth): meta.classes are then class_0, class_1, … */
  classesKnown: boolean;
}

export interface ClassifierOverrides {
  /** Build this architecture instead of the one in the checkpoint's metadata (required when it has none). */
  arch?: string;
}

/**
 * A fine-tuned classifier for evaluation and prediction, in eval mode. The architecture and classes come from the
 * checkpoint's metadata (or the overrides); the load is strict, so a checkpoint of another architecture or class
 * count is refused with the mismatching keys and shapes.
 */
export function loadClassifier(backend: Backend, checkpoint: string, o: ClassifierOverrides = {}): LoadedClassifier {
  const w = readWeightFile(checkpoint);
  if (!isClassifierState(w.tensors)) {
    throw new Error(`${w.file} has no classification head (head.weight): it is a pre-training checkpoint; fine-tune it first (itpn finetune --from ${checkpoint})`);
  }
  let meta = w.meta;
  const classesKnown = meta !== null;
  if (!meta || o.arch) {
    const arch = o.arch ?? meta?.arch;
    if (!arch) throw new Error(`${w.file} carries no itpn metadata; give --arch`);
    const numClasses = meta?.classes.length ?? w.tensors.get('head.weight')!.shape[0];
    const imgSize = meta?.config.img_size ?? Math.round(Math.sqrt(w.tensors.get('absolute_pos_embed')?.shape[1] ?? 196)) * 16;
    const config = taskConfig(arch, 'classify', { img_size: imgSize, num_classes: numClasses, init_values: hasLayerScale(w.tensors) ? 0.1 : 0 });
    const classes = meta?.classes ?? Array.from({ length: numClasses }, (_, i) => `class_${i}`);
    meta = { format: 'itpn-classifier', arch, config, classes, class_names: meta?.class_names ?? classes };
  }
  const model = new ITPNClassifier({ backend, rng: new Rng(0), shapeOnly: true }, meta.config);
  try {
    loadStateDict(model, w.tensors, { source: w.file });
  } catch (e) {
    model.dispose();
    throw e;
  }
  model.eval();
  return { model, meta, file: w.file, classesKnown };
}
