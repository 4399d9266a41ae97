// Where weights come from for fine-tuning and inference: an itpn run or checkpoint folder, a model.safetensors
// file, or an official torch.save .pth. A fine-tuned classifier carries its metadata (architecture, config, class
// folders and names) in the safetensors header and in trainer.json; a pre-training run keeps its config.json next
// to the checkpoint folder.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readPthStateDict } from '../io/pth';
import type { RawTensor } from '../io/raw_tensor';
import { readSafetensors } from '../io/safetensors';
import type { ITPNConfig } from '../models/itpn/configs';
import { taskConfig } from '../models/itpn/factory';
import { configOverridesFromState } from '../models/itpn/state_config';

/** What a fine-tuning checkpoint records about its model and labels. */
export interface ClassifierMeta {
  format: 'itpn-classifier';
  arch: string;
  config: ITPNConfig;
  /** Class folder names in label order. */
  classes: string[];
  /** Display names in label order (classes.tsv when known, else the folder names). */
  class_names: string[];
}

export const META_KEY = 'itpn_meta';

export interface WeightFile {
  /** The file the tensors came from. */
  file: string;
  tensors: Map<string, RawTensor>;
  /** Present for itpn fine-tuning checkpoints. */
  meta: ClassifierMeta | null;
  /** The pre-training run's config.json ({arch, task, config}) when the file is an itpn pre-training checkpoint. */
  pretrainConfig: { arch: string; task: string; config: ITPNConfig } | null;
}

/**
 * The weights file for a path: a .pth/.pt, a .safetensors, or a folder holding model.safetensors directly or in
 * best/ (preferred: the best fine-tuning epoch) or checkpoint/.
 */
export function resolveWeightFile(p: string): string {
  if (!fs.existsSync(p)) throw new Error(`checkpoint not found: ${p}`);
  if (!fs.statSync(p).isDirectory()) return p;
  for (const sub of ['.', 'best', 'checkpoint']) {
    const f = path.join(p, sub, 'model.safetensors');
    if (fs.existsSync(f)) return path.normalize(f);
  }
  throw new Error(`no model.safetensors in ${p} (nor in ${path.join(p, 'best')} or ${path.join(p, 'checkpoint')})`);
}

export function readWeightFile(p: string): WeightFile {
  const file = resolveWeightFile(p);
  if (/\.(pth|pt)$/i.test(file)) return { file, tensors: readPthStateDict(file), meta: null, pretrainConfig: null };
  const { tensors, metadata } = readSafetensors(file);
  const meta = metadata[META_KEY] ? (JSON.parse(metadata[META_KEY]) as ClassifierMeta) : null;
  return { file, tensors, meta, pretrainConfig: meta ? null : findPretrainConfig(path.dirname(file)) };
}

/** config.json written by `itpn pretrain`, in the checkpoint folder or the run folder above it. */
function findPretrainConfig(dir: string): WeightFile['pretrainConfig'] {
  for (const d of [dir, path.dirname(dir)]) {
    const f = path.join(d, 'config.json');
    if (!fs.existsSync(f)) continue;
    const c = JSON.parse(fs.readFileSync(f, 'utf8')) as { arch?: string; task?: string; config?: ITPNConfig };
    if (c.arch && c.config) return { arch: c.arch, task: c.task ?? 'pixel', config: c.config };
  }
  return null;
}

/** True when the tensors hold a classification head (a fine-tuned model), not a pre-training state. */
export function isClassifierState(sd: Map<string, RawTensor>): boolean {
  return sd.has('head.weight');
}

/**
 * The architecture and pre-training config of a pre-training weight file: from the run's config.json, or (official
 * .pth, bare files) `arch` with the settings the weights imply. `arch`, when given, must match the run's.
 */
export function pretrainConfigOf(w: WeightFile, arch?: string): { arch: string; config: ITPNConfig } {
  const name = arch ?? w.pretrainConfig?.arch;
  if (!name) throw new Error(`${w.file} has no config.json beside it; give --arch`);
  if (arch && w.pretrainConfig && arch !== w.pretrainConfig.arch) throw new Error(`${w.file} was pre-trained as ${w.pretrainConfig.arch}, not ${arch}`);
  return { arch: name, config: w.pretrainConfig?.config ?? taskConfig(name, 'pixel', configOverridesFromState(w.tensors)) };
}
