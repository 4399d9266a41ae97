// A pixel pre-training model from a checkpoint, to look at what it reconstructs: an `itpn pretrain` run of the pixel
// variant (with or without --mfm, whose heads are not needed here) or an official iTPN pixel .pth, which keeps its
// decoder (spec §8.2). Classifiers and CLIP-distillation checkpoints have no pixel decoder and are refused by name.
import type { Backend } from '../engine/backend';
import { Rng } from '../engine/random';
import type { ITPNConfig } from '../models/itpn/configs';
import { ITPNMaskedAutoencoder } from '../models/itpn/pixel_mim';
import { loadStateDict } from '../models/load_state_dict';
import { isClassifierState, pretrainConfigOf, readWeightFile } from '../finetune/weights';

export interface PixelModel {
  model: ITPNMaskedAutoencoder;
  cfg: ITPNConfig;
  /** One line for the log: what was loaded from where. */
  describe: string;
}

export interface PixelModelOptions {
  /** Required for weight files without a config (official .pth); otherwise must match. */
  arch?: string;
  /** Fraction of patches hidden from the encoder; default the checkpoint's (0.75). */
  maskRatio?: number;
}

export function loadPixelModel(backend: Backend, checkpoint: string, o: PixelModelOptions = {}): PixelModel {
  const w = readWeightFile(checkpoint);
  if (isClassifierState(w.tensors)) throw new Error(`${w.file} is a fine-tuned classifier: it has no pixel decoder to reconstruct with`);
  if (!w.tensors.has('decoder_pred.weight')) {
    throw new Error(`${w.file} has no pixel decoder (decoder_pred.weight): only pixel pre-training checkpoints ` +
      '(itpn pretrain --variant pixel, the official iTPN pixel weights) reconstruct images');
  }
  if (w.pretrainConfig && w.pretrainConfig.task !== 'pixel') throw new Error(`${w.file} comes from a ${w.pretrainConfig.task} pre-training run, not a pixel one`);
  const { arch, config: base } = pretrainConfigOf(w, o.arch);
  const cfg: ITPNConfig = { ...base, mask_ratio: o.maskRatio ?? base.mask_ratio, drop_path_rate: 0 };
  const model = new ITPNMaskedAutoencoder({ backend, rng: new Rng(0), shapeOnly: true }, cfg);
  const state = new Map([...w.tensors].filter(([k]) => !k.startsWith('mfm_heads.')));
  try {
    loadStateDict(model, state, { source: w.file });
  } catch (e) {
    model.dispose();
    throw e;
  }
  model.eval();
  return { model, cfg, describe: `${arch} pixel pre-training checkpoint ${w.file} (${cfg.img_size}px, mask ratio ${cfg.mask_ratio})` };
}
