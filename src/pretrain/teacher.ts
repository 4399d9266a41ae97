// Frozen teachers for feature-target pre-training (spec §4.2, §4.3): a CLIP vision tower (OpenAI or Hugging Face
// weights) or an itpn pre-training checkpoint (self-distillation: its main-stage output tokens). Both run in eval
// mode under noGrad on the student's own crop, so student and teacher share one crop box and flip: the CLIP view is
// the student tensor with ImageNet normalisation undone, bicubic-resized to grid·teacher_patch (224 for B/16 and
// 196 for L/14 at a 224 student), then scaled for CLIP. The official code resizes the original crop with PIL
// (lanczos or bicubic) instead; resizing the student crop costs a little detail when the teacher input is larger.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Backend } from '../engine/backend';
import { Rng } from '../engine/random';
import { noGrad } from '../engine/scope';
import type { Tensor } from '../engine/tensor';
import { add, affine, clamp, mul, resize2d, tensor } from '../ops';
import { IMAGENET_MEAN, IMAGENET_STD } from '../data/transforms';
import type { RawTensor } from '../io/raw_tensor';
import { ClipVisionTransformer, type ClipVisionConfig } from '../models/clip_teacher';
import { clipWeightsFrom, detectClipLayout, readTensorFile } from '../models/clip_convert';
import { loadStateDict } from '../models/load_state_dict';
import { ITPNBackbone } from '../models/itpn/backbone';
import { ARCHS, isArchName, resolveConfig, type ITPNConfig } from '../models/itpn/configs';
import { taskConfig } from '../models/itpn/factory';

/** `clip`: correct CLIP normalisation. `official`: the released code's ((x+1)·127.5).clamp(0,255)/255 of the [0,1] view first (spec §4.2). */
export type TeacherInput = 'clip' | 'official';

export const CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073] as const;
export const CLIP_STD = [0.26862954, 0.26130258, 0.27577711] as const;

export interface TeacherOptions {
  /** Weights file (.safetensors, .pth/.pt, OpenAI TorchScript .pt), or an itpn run or checkpoint folder. */
  path: string;
  /** CLIP: ViT-B/16 or ViT-L/14 (checked against the shapes). itpn: the architecture when no config.json is found. */
  arch?: string;
  input: TeacherInput;
  /** CLIP attention heads when they are not width/64 (they are not stored in the weights). */
  heads?: number;
}

/** Teacher tokens on the student's token grid, before the affine-free LayerNorm of the targets. */
export interface TeacherFeatures {
  /** CLIP: ln_post(patch tokens)·proj [B, N, out]; itpn: main-stage output [B, N, C]. */
  final: Tensor;
  /** Hidden states after k blocks (CLIP: residual stream [B, N, width]; itpn: after main block k [B, N, C]). */
  taps: Map<number, Tensor>;
}

export interface Teacher {
  readonly kind: 'clip' | 'itpn';
  readonly finalDim: number;
  readonly tapDim: number;
  /** Blocks that can be tapped: 1 … depth. */
  readonly depth: number;
  readonly description: string;
  /** Features for a batch of student crops (ImageNet-normalised [B, 3, S, S]); no gradient is recorded. */
  features(images: Tensor, taps: number[]): TeacherFeatures;
}

function channelTensor(like: Tensor, values: readonly number[]): Tensor {
  const a = like.dtype === 'float64' ? Float64Array.from(values) : Float32Array.from(values);
  return tensor(like.backend, a, [1, 3, 1, 1]);
}

/** The CLIP teacher's view of ImageNet-normalised student crops [B, 3, S, S]: [B, 3, size, size], CLIP-normalised. */
export function clipTeacherView(images: Tensor, size: number, input: TeacherInput): Tensor {
  let x = add(mul(images, channelTensor(images, IMAGENET_STD)), channelTensor(images, IMAGENET_MEAN)); // [0, 1]
  if (x.shape[2] !== size || x.shape[3] !== size) x = resize2d(x, { mode: 'bicubic', size: [size, size] });
  x = clamp(x, 0, 1);
  if (input === 'official') x = affine(clamp(affine(x, 127.5, 127.5), 0, 255), 1 / 255, 0); // ScalingLayerForClip on [0, 1] input
  return add(mul(x, channelTensor(x, CLIP_STD.map((s) => 1 / s))), channelTensor(x, CLIP_MEAN.map((m, c) => -m / CLIP_STD[c])));
}

export class ClipTeacher implements Teacher {
  readonly kind = 'clip';
  readonly finalDim: number;
  readonly tapDim: number;
  readonly depth: number;
  readonly description: string;

  constructor(readonly model: ClipVisionTransformer, readonly input: TeacherInput, source: string) {
    const c = model.cfg;
    this.finalDim = c.output_dim;
    this.tapDim = c.width;
    this.depth = c.layers;
    this.description = `CLIP ViT (width ${c.width}, ${c.layers} layers, ${c.heads} heads, patch ${c.patch_size}, ${c.input_resolution}px native, out ${c.output_dim}) from ${source}, input scaling ${input}`;
    model.eval();
  }

  /** Teacher input size for a student input of `studentSize` (16-px main tokens): teacher grid = student grid. */
  inputSize(studentSize: number): number {
    return (studentSize / 16) * this.model.cfg.patch_size;
  }

  features(images: Tensor, taps: number[]): TeacherFeatures {
    return noGrad(() => {
      const out = this.model.forward(clipTeacherView(images, this.inputSize(images.shape[2]), this.input), taps);
      return { final: out.patch_tokens_proj, taps: out.hidden };
    });
  }
}

export class ItpnTeacher implements Teacher {
  readonly kind = 'itpn';
  readonly finalDim: number;
  readonly tapDim: number;
  readonly depth: number;
  readonly description: string;

  constructor(readonly model: ITPNBackbone, source: string) {
    const c = model.cfg;
    this.finalDim = this.tapDim = c.embed_dim;
    this.depth = c.depth;
    this.description = `itpn backbone (C ${c.embed_dim}, ${c.mlp_depth1}+${c.mlp_depth2}+${c.depth} blocks, rpe ${c.rpe}) from ${source}, main-stage tokens`;
    model.eval();
  }

  features(images: Tensor, taps: number[]): TeacherFeatures {
    return noGrad(() => {
      const distinct = [...new Set(taps)];
      for (const k of distinct) if (!Number.isInteger(k) || k < 1 || k > this.depth) throw new Error(`itpn teacher tap ${k} is outside 1…${this.depth}`);
      // forwardFeatures taps one main block per pass: one pass per distinct tap (the first also gives the output)
      const first = this.model.forwardFeatures(images, { auxTap: distinct.length ? distinct[0] - 1 : undefined });
      const tapped = new Map<number, Tensor>();
      distinct.forEach((k, i) => tapped.set(k, i === 0 ? first.aux! : this.model.forwardFeatures(images, { auxTap: k - 1 }).aux!));
      return { final: first.x, taps: tapped };
    });
  }
}

/** A weights file inside a run or checkpoint folder, or the path itself. */
function resolveWeightsPath(p: string): string {
  if (!fs.existsSync(p)) throw new Error(`teacher ${p} does not exist`);
  if (!fs.statSync(p).isDirectory()) return p;
  for (const f of ['checkpoint/model.safetensors', 'model.safetensors']) if (fs.existsSync(path.join(p, f))) return path.join(p, f);
  throw new Error(`teacher folder ${p} holds neither checkpoint/model.safetensors nor model.safetensors`);
}

/** The ITPNConfig of an itpn checkpoint: from the run's config.json (this project's pretrain output), else from --teacher-arch and the keys. */
function itpnTeacherConfig(file: string, sd: Map<string, RawTensor>, arch?: string): { cfg: ITPNConfig; from: string } {
  for (const dir of [path.dirname(file), path.dirname(path.dirname(file))]) {
    const f = path.join(dir, 'config.json');
    if (!fs.existsSync(f)) continue;
    const j = JSON.parse(fs.readFileSync(f, 'utf8')) as { arch?: string; config?: Record<string, unknown> };
    if (j.config && j.arch && isArchName(j.arch)) return { cfg: resolveConfig(ARCHS[j.arch], j.config), from: f };
  }
  if (!arch || !isArchName(arch)) throw new Error(`${file}: no run config.json beside it; pass --teacher-arch with its architecture (${Object.keys(ARCHS).join(', ')})`);
  const pos = sd.get('absolute_pos_embed');
  if (!pos) throw new Error(`${file}: no absolute_pos_embed; not an itpn checkpoint`);
  const grid = Math.round(Math.sqrt(pos.shape[1]));
  const keys = [...sd.keys()];
  const cfg = taskConfig(arch, 'pixel', {
    img_size: grid * 16,
    rpe: keys.some((k) => k.endsWith('relative_position_bias_table')),
    init_values: keys.some((k) => /^blocks\.\d+\.gamma_[12]$/.test(k)) ? 0.1 : 0, // any non-zero value: the loaded γ replace it
  });
  return { cfg, from: `--teacher-arch ${arch} and the checkpoint's keys` };
}

/** Loads a CLIP tower or an itpn backbone as a frozen teacher; the kind is read from the keys. */
export function loadTeacher(backend: Backend, o: TeacherOptions, log: (s: string) => void = () => undefined): Teacher {
  const file = resolveWeightsPath(o.path);
  const raw = readTensorFile(file);
  const ctx = { backend, rng: new Rng(0), shapeOnly: true }; // never draws from the run's generator
  if (detectClipLayout(raw)) {
    const w = clipWeightsFrom(raw, file, { arch: o.arch, heads: o.heads });
    const cfg: ClipVisionConfig = w.cfg;
    const model = new ClipVisionTransformer(ctx, cfg);
    loadStateDict(model, w.sd, { source: file });
    log(`teacher: ${w.layout} layout, heads from ${w.headsFrom}`);
    return new ClipTeacher(model, o.input, file);
  }
  if (raw.has('patch_embed.proj.weight')) {
    const { cfg, from } = itpnTeacherConfig(file, raw, o.arch);
    const model = new ITPNBackbone(ctx, cfg, { pyramid: false });
    const own = model.stateDict();
    const missing = [...own.keys()].filter((k) => !raw.has(k));
    if (missing.length) throw new Error(`${file}: itpn teacher lacks ${missing.length} backbone keys: ${missing.slice(0, 10).join(', ')}`);
    // the backbone's keys only: the pyramid, decoder and heads of the pre-training model are not used
    loadStateDict(model, new Map([...raw].filter(([k]) => own.has(k))), { source: file });
    log(`teacher: itpn config from ${from}`);
    return new ItpnTeacher(model, file);
  }
  throw new Error(`${file}: neither CLIP weights (OpenAI or Hugging Face layout) nor an itpn checkpoint (patch_embed.proj.weight)`);
}
