// Foreign CLIP vision-tower weights (spec §4.2): the OpenAI layout that ClipVisionTransformer uses (conv1,
// class_embedding, positional_embedding, ln_pre, transformer.resblocks.N.{attn.in_proj_*, attn.out_proj, ln_1,
// mlp.c_fc, mlp.c_proj, ln_2}, ln_post, proj), with or without the `visual.` prefix of a full CLIP checkpoint, and
// the Hugging Face CLIPVisionModelWithProjection layout (vision_model.embeddings.*, pre_layrnorm,
// encoder.layers.N.{self_attn.{q,k,v,out}_proj, layer_norm1/2, mlp.fc1/fc2}, post_layernorm, visual_projection).
// Converted both ways; the architecture is read off the shapes. Also reads OpenAI's released .pt files, which are
// TorchScript archives rather than torch.save state dicts.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { openByteSource } from '../io/byte_source';
import { readPthStateDict } from '../io/pth';
import { PickleGlobal, isPickleOpaque, unpickle } from '../io/pickle_vm';
import { DTYPE_ITEM_SIZE, decodeTensorBytes, isRawTensor, materializeStrided, type FileDType, type RawTensor } from '../io/raw_tensor';
import { readSafetensors } from '../io/safetensors';
import { ZipArchive } from '../io/zip_reader';
import { CLIP_VIT_B16, CLIP_VIT_L14, type ClipVisionConfig } from './clip_teacher';

export type ClipLayout = 'openai' | 'hf';

export const CLIP_ARCHS: Record<string, ClipVisionConfig> = { 'ViT-B/16': CLIP_VIT_B16, 'ViT-L/14': CLIP_VIT_L14 };

const HF = 'vision_model.';

/** OpenAI-layout (unprefixed) block key suffix ↔ Hugging Face encoder-layer key suffix, for the 1:1 renames. */
const BLOCK_RENAMES: [string, string][] = [
  ['attn.out_proj.weight', 'self_attn.out_proj.weight'], ['attn.out_proj.bias', 'self_attn.out_proj.bias'],
  ['ln_1.weight', 'layer_norm1.weight'], ['ln_1.bias', 'layer_norm1.bias'],
  ['mlp.c_fc.weight', 'mlp.fc1.weight'], ['mlp.c_fc.bias', 'mlp.fc1.bias'],
  ['mlp.c_proj.weight', 'mlp.fc2.weight'], ['mlp.c_proj.bias', 'mlp.fc2.bias'],
  ['ln_2.weight', 'layer_norm2.weight'], ['ln_2.bias', 'layer_norm2.bias'],
];

const TOP_RENAMES: [string, string][] = [
  ['conv1.weight', `${HF}embeddings.patch_embedding.weight`],
  ['class_embedding', `${HF}embeddings.class_embedding`],
  ['positional_embedding', `${HF}embeddings.position_embedding.weight`],
  ['ln_pre.weight', `${HF}pre_layrnorm.weight`], ['ln_pre.bias', `${HF}pre_layrnorm.bias`],
  ['ln_post.weight', `${HF}post_layernorm.weight`], ['ln_post.bias', `${HF}post_layernorm.bias`],
];

function need(sd: Map<string, RawTensor>, key: string, where: string): RawTensor {
  const t = sd.get(key);
  if (!t) throw new Error(`${where}: missing "${key}"`);
  return t;
}

function rowSlice(t: RawTensor, start: number, end: number): RawTensor {
  const cols = t.shape.slice(1).reduce((p, d) => p * d, 1);
  return { dtype: t.dtype, shape: [end - start, ...t.shape.slice(1)], data: t.data.slice(start * cols, end * cols) as RawTensor['data'] };
}

function concatRows(ts: RawTensor[]): RawTensor {
  const rows = ts.reduce((p, t) => p + t.shape[0], 0);
  const data = new (ts[0].data.constructor as Float32ArrayConstructor)(ts.reduce((p, t) => p + t.data.length, 0));
  let at = 0;
  for (const t of ts) {
    data.set(t.data as Float32Array, at);
    at += t.data.length;
  }
  return { dtype: ts[0].dtype, shape: [rows, ...ts[0].shape.slice(1)], data };
}

function transpose2d(t: RawTensor): RawTensor {
  const [r, c] = t.shape;
  const data = new (t.data.constructor as Float32ArrayConstructor)(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) data[j * r + i] = t.data[i * c + j];
  return { dtype: t.dtype, shape: [c, r], data };
}

function blockIndices(sd: Map<string, RawTensor>, re: RegExp): number[] {
  const ids = new Set<number>();
  for (const k of sd.keys()) {
    const m = re.exec(k);
    if (m) ids.add(Number(m[1]));
  }
  const sorted = [...ids].sort((a, b) => a - b);
  sorted.forEach((id, i) => { if (id !== i) throw new Error(`CLIP weights: transformer block ${i} is missing (found ${sorted.join(', ')})`); });
  return sorted;
}

/** OpenAI layout (unprefixed visual keys) → Hugging Face CLIPVisionModelWithProjection layout. */
export function openaiToHf(sd: Map<string, RawTensor>): Map<string, RawTensor> {
  const where = 'OpenAI → HF conversion';
  const out = new Map<string, RawTensor>();
  for (const [a, b] of TOP_RENAMES) out.set(b, need(sd, a, where));
  for (const i of blockIndices(sd, /^transformer\.resblocks\.(\d+)\./)) {
    const src = `transformer.resblocks.${i}.`, dst = `${HF}encoder.layers.${i}.`;
    const w = need(sd, src + 'attn.in_proj_weight', where), b = need(sd, src + 'attn.in_proj_bias', where);
    const D = w.shape[1];
    ['q', 'k', 'v'].forEach((name, j) => {
      out.set(`${dst}self_attn.${name}_proj.weight`, rowSlice(w, j * D, (j + 1) * D));
      out.set(`${dst}self_attn.${name}_proj.bias`, rowSlice(b, j * D, (j + 1) * D));
    });
    for (const [a, bName] of BLOCK_RENAMES) out.set(dst + bName, need(sd, src + a, where));
  }
  out.set('visual_projection.weight', transpose2d(need(sd, 'proj', where))); // Linear(width → out, no bias)
  return out;
}

/** Hugging Face layout → OpenAI layout (unprefixed). A full CLIPModel's text tower, logit_scale and position_ids are ignored. */
export function hfToOpenai(sd: Map<string, RawTensor>): Map<string, RawTensor> {
  const where = 'HF → OpenAI conversion';
  const out = new Map<string, RawTensor>();
  for (const [a, b] of TOP_RENAMES) out.set(a, need(sd, b, where));
  for (const i of blockIndices(sd, /^vision_model\.encoder\.layers\.(\d+)\./)) {
    const src = `${HF}encoder.layers.${i}.`, dst = `transformer.resblocks.${i}.`;
    const qkv = ['q', 'k', 'v'];
    out.set(dst + 'attn.in_proj_weight', concatRows(qkv.map((n) => need(sd, `${src}self_attn.${n}_proj.weight`, where))));
    out.set(dst + 'attn.in_proj_bias', concatRows(qkv.map((n) => need(sd, `${src}self_attn.${n}_proj.bias`, where))));
    for (const [a, bName] of BLOCK_RENAMES) out.set(dst + a, need(sd, src + bName, where));
  }
  out.set('proj', transpose2d(need(sd, 'visual_projection.weight', where)));
  return out;
}

export function detectClipLayout(sd: Map<string, RawTensor>): ClipLayout | null {
  const keys = [...sd.keys()];
  if (keys.some((k) => k.startsWith(HF))) return 'hf';
  if (keys.some((k) => k === 'conv1.weight' || k === 'visual.conv1.weight')) return 'openai';
  return null;
}

/**
 * The vision tower of any supported CLIP state dict, in the OpenAI layout without prefix. With a `visual.`
 * prefix only those keys are kept (the text tower of a full checkpoint is ignored); keys that are neither are an
 * error, so an unrelated checkpoint cannot load silently.
 */
export function clipVisionStateDict(sd: Map<string, RawTensor>, label = 'CLIP weights'): { sd: Map<string, RawTensor>; layout: ClipLayout } {
  const layout = detectClipLayout(sd);
  if (layout === 'hf') return { sd: hfToOpenai(sd), layout };
  if (layout !== 'openai') throw new Error(`${label}: neither an OpenAI CLIP (conv1.weight, transformer.resblocks.*) nor a Hugging Face CLIP (vision_model.*) state dict; first keys: ${[...sd.keys()].slice(0, 8).join(', ')}`);
  const prefixed = sd.has('visual.conv1.weight');
  const out = new Map<string, RawTensor>();
  for (const [k, t] of sd) {
    if (prefixed) {
      if (k.startsWith('visual.')) out.set(k.slice('visual.'.length), t);
    } else {
      out.set(k, t);
    }
  }
  return { sd: out, layout };
}

/** Width, layers, patch, resolution and output dim from the shapes (the head count is not in the weights). */
export function clipShapeConfig(sd: Map<string, RawTensor>): Omit<ClipVisionConfig, 'heads'> {
  const where = 'CLIP weights';
  const conv = need(sd, 'conv1.weight', where).shape; // [width, 3, p, p]
  const pos = need(sd, 'positional_embedding', where).shape; // [g² + 1, width]
  const proj = need(sd, 'proj', where).shape; // [width, out]
  const width = conv[0], patch = conv[2];
  const grid = Math.round(Math.sqrt(pos[0] - 1));
  if (grid * grid + 1 !== pos[0]) throw new Error(`${where}: positional_embedding [${pos.join(', ')}] is not a square grid plus a class position`);
  const layers = blockIndices(sd, /^transformer\.resblocks\.(\d+)\./).length;
  return { input_resolution: grid * patch, patch_size: patch, width, layers, output_dim: proj[1] };
}

/** The full config from the shapes; heads default to width/64 (every OpenAI ViT). */
export function inferClipVisionConfig(sd: Map<string, RawTensor>, heads?: number): ClipVisionConfig {
  const shapes = clipShapeConfig(sd);
  const h = heads ?? shapes.width / 64;
  if (!Number.isInteger(h) || h < 1 || shapes.width % h !== 0) throw new Error(`CLIP weights: width ${shapes.width} does not split into ${h} heads; pass the head count`);
  const { input_resolution, patch_size, width, layers, output_dim } = shapes;
  return { input_resolution, patch_size, width, layers, heads: h, output_dim };
}

export interface ClipWeights {
  /** OpenAI layout, no prefix: loads into ClipVisionTransformer strictly. */
  sd: Map<string, RawTensor>;
  cfg: ClipVisionConfig;
  layout: ClipLayout;
  /** Where the head count came from, for the log. */
  headsFrom: string;
}

/**
 * Reads CLIP vision weights from .safetensors (OpenAI or HF layout), a torch.save .pth/.pt state dict, or an
 * OpenAI TorchScript .pt. `arch` (ViT-B/16, ViT-L/14) fixes the config and is checked against the shapes; the head
 * count comes from `heads`, else `arch`, else a Hugging Face config.json beside the file, else width/64.
 */
export function readClipWeights(file: string, opts: { arch?: string; heads?: number } = {}): ClipWeights {
  return clipWeightsFrom(readTensorFile(file), file, opts);
}

/** readClipWeights on tensors already read from `file`. */
export function clipWeightsFrom(raw: Map<string, RawTensor>, file: string, opts: { arch?: string; heads?: number } = {}): ClipWeights {
  const { sd, layout } = clipVisionStateDict(raw, file);
  let heads = opts.heads, headsFrom = 'given';
  const preset = opts.arch ? CLIP_ARCHS[opts.arch] : undefined;
  if (opts.arch && !preset) throw new Error(`unknown CLIP architecture "${opts.arch}" (known: ${Object.keys(CLIP_ARCHS).join(', ')})`);
  if (heads === undefined && preset) [heads, headsFrom] = [preset.heads, opts.arch!];
  if (heads === undefined && layout === 'hf') {
    const sidecar = path.join(path.dirname(file), 'config.json');
    if (fs.existsSync(sidecar)) {
      const j = JSON.parse(fs.readFileSync(sidecar, 'utf8')) as { num_attention_heads?: number; vision_config?: { num_attention_heads?: number } };
      const h = j.vision_config?.num_attention_heads ?? j.num_attention_heads;
      if (typeof h === 'number') [heads, headsFrom] = [h, sidecar];
    }
  }
  if (heads === undefined) headsFrom = 'width/64';
  if (preset) {
    const shapes = clipShapeConfig(sd);
    const diff = (Object.keys(shapes) as (keyof typeof shapes)[]).filter((k) => preset[k] !== shapes[k]);
    if (diff.length) throw new Error(`${file} is not ${opts.arch}: ${diff.map((k) => `${k} ${shapes[k]} (weights) vs ${preset[k]}`).join(', ')}`);
  }
  return { sd, cfg: inferClipVisionConfig(sd, heads), layout, headsFrom };
}

/** Every tensor of a .safetensors, torch.save or TorchScript file, by name. */
export function readTensorFile(file: string): Map<string, RawTensor> {
  if (file.endsWith('.safetensors')) return readSafetensors(file).tensors;
  if (isTorchScript(file)) return readTorchScriptTensors(file);
  return readPthStateDict(file);
}

function isTorchScript(file: string): boolean {
  const source = openByteSource(file);
  try {
    if (!ZipArchive.isZip(source)) return false;
    return [...new ZipArchive(source).entries.keys()].some((n) => /^[^/]+\/constants\.pkl$/.test(n) || /^[^/]+\/code\//.test(n));
  } finally {
    source.close();
  }
}

const STORAGE_DTYPES: Record<string, FileDType> = { FloatStorage: 'F32', HalfStorage: 'F16', BFloat16Storage: 'BF16', DoubleStorage: 'F64', LongStorage: 'I64', IntStorage: 'I32' };

/**
 * The tensors of a TorchScript archive (torch.jit.save, e.g. OpenAI's ViT-B-16.pt), named by their attribute
 * paths (`visual.conv1.weight`), which are the state-dict keys. data.pkl holds the module tree as objects of
 * `__torch__.*` classes whose BUILD state maps attribute names to submodules, tensors and plain values; the
 * tensors are `_rebuild_tensor_v2` calls on storages in `data/`. Nothing in the file is executed: classes stay
 * inert records and only the tensor rebuild is interpreted.
 */
export function readTorchScriptTensors(file: string): Map<string, RawTensor> {
  const source = openByteSource(file);
  try {
    const zip = new ZipArchive(source);
    const pkl = [...zip.entries.keys()].find((n) => /^[^/]+\/data\.pkl$/.test(n));
    if (!pkl) throw new Error(`${file}: no <archive>/data.pkl; not a TorchScript archive`);
    const prefix = pkl.slice(0, -'data.pkl'.length);
    type Storage = { key: string; dtype: FileDType | undefined; name: string };
    const root = unpickle(zip.read(pkl), {
      label: `${file}: data.pkl`,
      persistentLoad: (pid) => {
        if (!Array.isArray(pid) || pid[0] !== 'storage') throw new Error(`${file}: unsupported persistent id ${JSON.stringify(pid)}`);
        const name = pid[1] instanceof PickleGlobal ? pid[1].name : String(pid[1]);
        return { key: String(pid[2]), dtype: STORAGE_DTYPES[name], name } satisfies Storage;
      },
      call: (callable, args) => {
        const name = callable instanceof PickleGlobal ? callable.qualifiedName : '';
        if (name === 'torch._utils._rebuild_tensor_v2' || name === 'torch._utils._rebuild_tensor') {
          const [storage, offset, size, stride] = args as [Storage, number, number[], number[]];
          if (!storage.dtype) throw new Error(`${file}: storage type ${storage.name} is not supported`);
          const bytes = zip.read(`${prefix}data/${storage.key}`);
          return decodeTensorBytes(storage.dtype, size, materializeStrided(bytes, DTYPE_ITEM_SIZE[storage.dtype], offset, size, stride), `storage ${storage.key}`);
        }
        if (name === 'torch._utils._rebuild_parameter') return args[0];
        return { __global__: name, args };
      },
    });
    const out = new Map<string, RawTensor>();
    const seen = new Set<unknown>();
    const walk = (v: unknown, name: string): void => {
      if (isRawTensor(v)) {
        if (name && !out.has(name)) out.set(name, v);
        return;
      }
      if (v === null || typeof v !== 'object' || seen.has(v)) return;
      seen.add(v);
      const state = isPickleOpaque(v) ? v.state : v;
      if (state instanceof Map) for (const [k, c] of state) if (typeof k === 'string') walk(c, name ? `${name}.${k}` : k);
    };
    walk(root, '');
    if (out.size === 0) throw new Error(`${file}: no tensors found in the TorchScript module tree`);
    return out;
  } finally {
    source.close();
  }
}
