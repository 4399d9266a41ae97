// Building a model by architecture and task, with each task's official defaults (spec §4.4, §6):
// pixel pre-training: no RPE, no layer scale, fpn_depth 2; CLIP pre-training: RPE, layer scale 0.1, fpn_depth 1;
// classification: RPE on (zero tables for pixel checkpoints), no pyramid.
import type { InitContext } from '../../nn/init';
import { ARCHS, isArchName, resolveConfig, type ITPNConfig } from './configs';
import { ITPNClassifier } from './classifier';
import { ITPNClipDistill } from './clip_distill';
import { ITPNDenseBackbone } from './dense';
import { ITPNMaskedAutoencoder } from './pixel_mim';

export type Task = 'pixel' | 'clip' | 'classify' | 'detection' | 'segmentation';
export const TASKS: Task[] = ['pixel', 'clip', 'classify', 'detection', 'segmentation'];

export type ITPNModel = ITPNMaskedAutoencoder | ITPNClipDistill | ITPNClassifier | ITPNDenseBackbone;

const TASK_DEFAULTS: Record<Task, Partial<ITPNConfig>> = {
  pixel: { rpe: false, init_values: 0, fpn_depth: 2 },
  clip: { rpe: true, init_values: 0.1, fpn_depth: 1 },
  classify: { rpe: true, init_values: 0 },
  detection: { rpe: false, init_values: 0, fpn_depth: 1 },
  segmentation: { rpe: true, init_values: 0, fpn_depth: 2 },
};

export function taskConfig(arch: string, task: Task, overrides: Record<string, unknown> = {}): ITPNConfig {
  if (!isArchName(arch)) throw new Error(`unknown architecture "${arch}" (known: ${Object.keys(ARCHS).join(', ')})`);
  return resolveConfig({ ...ARCHS[arch], ...TASK_DEFAULTS[task] }, overrides);
}

export function buildModel(ctx: InitContext, cfg: ITPNConfig, task: Task): ITPNModel {
  switch (task) {
    case 'pixel': return new ITPNMaskedAutoencoder(ctx, cfg);
    case 'clip': return new ITPNClipDistill(ctx, cfg);
    case 'classify': return new ITPNClassifier(ctx, cfg);
    case 'detection': return new ITPNDenseBackbone(ctx, cfg, 'detection', 5);
    case 'segmentation': return new ITPNDenseBackbone(ctx, cfg, 'segmentation', 4);
  }
}

/**
 * Multiply-accumulates of one forward pass at an H×W input (attention matmuls included, element-wise ops not).
 * Pixel pre-training counts the encoder on the visible tokens and the decoder on all tokens.
 */
export function forwardMacs(cfg: ITPNConfig, task: Task, H = cfg.img_size, W = cfg.img_size): number {
  const N = (H / 16) * (W / 16);
  const n = task === 'pixel' ? Math.floor(N * (1 - cfg.mask_ratio)) : N;
  const C = cfg.embed_dim, F = cfg.fpn_dim;
  const mlp = (tokens: number, d: number, r: number) => tokens * 2 * d * Math.floor(d * r);
  const attnBlock = (tokens: number, d: number) => tokens * 4 * d * d + 2 * tokens * tokens * d + mlp(tokens, d, cfg.mlp_ratio);
  let macs = N * 16 * (C / 4) * 3 * 16; // patch embedding conv (all tokens, before dropping)
  macs += cfg.mlp_depth1 * mlp(n * 16, C / 4, cfg.bridge_mlp_ratio) + n * 4 * C * (C / 2);
  macs += cfg.mlp_depth2 * mlp(n * 4, C / 2, cfg.bridge_mlp_ratio) + n * 2 * C * C;
  macs += cfg.depth * attnBlock(n, C);
  if (task === 'classify') return macs + C * cfg.num_classes;
  const fpnDepth = task === 'detection' ? 1 : cfg.fpn_depth;
  macs += (C !== F ? n * C * F : 0) + n * C * 4 * F + n * 4 * (C / 2) * F + fpnDepth * mlp(n * 4, F, cfg.mlp_ratio);
  macs += n * 4 * F * 4 * F + n * 16 * (C / 4) * F + fpnDepth * mlp(n * 16, F, cfg.mlp_ratio);
  macs += mlp(n, F, cfg.mlp_ratio) + mlp(n * 4, F, cfg.mlp_ratio) + mlp(n * 16, F, cfg.mlp_ratio);
  if (task === 'pixel') {
    const D = cfg.decoder_embed_dim;
    macs += n * F * D * 3 + cfg.decoder_depth * attnBlock(N, D) + N * D * 16 * 16 * 3;
  } else if (task === 'clip') {
    macs += n * F * C * 3 + 2 * n * C * cfg.teacher_dim + 2 * attnBlock(n, C);
  }
  return macs;
}
