// CLIP weight layouts: the fixture teacher (OpenAI layout) converted to the Hugging Face layout, written, read back
// and loaded gives the same features (and the official outputs); HF → OpenAI restores every tensor exactly; a full
// CLIP checkpoint's text tower is ignored; shapes give the config; OpenAI's TorchScript .pt layout is read.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Rng } from '../../src/engine/random';
import { createReferenceBackend } from '../../src/backends/reference/reference_backend';
import { readSafetensors, writeSafetensors } from '../../src/io/safetensors';
import { f32ToF16Bits, type RawTensor } from '../../src/io/raw_tensor';
import { ClipVisionTransformer, type ClipVisionConfig } from '../../src/models/clip_teacher';
import { clipVisionStateDict, hfToOpenai, inferClipVisionConfig, openaiToHf, readClipWeights, readTensorFile } from '../../src/models/clip_convert';
import { loadStateDict } from '../../src/models/load_state_dict';
import { tensor } from '../../src/ops';
import { fixturesDir, relL2 } from '../helpers';

const dir = path.join(fixturesDir, 'clip-teacher');
const config = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as ClipVisionConfig;
const fixtureCfg: ClipVisionConfig = {
  input_resolution: config.input_resolution, patch_size: config.patch_size, width: config.width,
  layers: config.layers, heads: config.heads, output_dim: config.output_dim,
};
const weights = readSafetensors(path.join(dir, 'weights.safetensors')).tensors;
const inputs = readSafetensors(path.join(dir, 'inputs.safetensors')).tensors;
const outputs = readSafetensors(path.join(dir, 'outputs.safetensors')).tensors;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'itpn-clip-convert-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const backend = createReferenceBackend();

function features(sd: Map<string, RawTensor>, cfg: ClipVisionConfig): Record<string, Float32Array> {
  const model = new ClipVisionTransformer({ backend, rng: new Rng(0), shapeOnly: true }, cfg);
  loadStateDict(model, sd);
  model.eval();
  const img = inputs.get('images')!;
  const out = model.forward(tensor(backend, img.data as Float32Array, img.shape));
  return { patch_tokens_proj: out.patch_tokens_proj.toFloat32Array(), target: out.target.toFloat32Array(), pooled: out.pooled.toFloat32Array() };
}

test('OpenAI → HF file → loaded gives the same features as the OpenAI weights (≤ 1e-6) and the official outputs (≤ 1e-4)', () => {
  const hf = openaiToHf(weights);
  assert.ok(hf.has('vision_model.pre_layrnorm.weight') && hf.has('vision_model.encoder.layers.1.self_attn.k_proj.bias'));
  assert.deepEqual(hf.get('visual_projection.weight')!.shape, [fixtureCfg.output_dim, fixtureCfg.width]); // a Linear: proj transposed
  assert.deepEqual(hf.get('vision_model.encoder.layers.0.self_attn.q_proj.weight')!.shape, [fixtureCfg.width, fixtureCfg.width]);
  assert.ok(![...hf.keys()].some((k) => k.includes('resblocks') || k.includes('in_proj')));
  const file = path.join(tmp, 'hf', 'model.safetensors');
  fs.mkdirSync(path.dirname(file));
  writeSafetensors(file, hf);

  const loaded = readClipWeights(file, { heads: fixtureCfg.heads });
  assert.equal(loaded.layout, 'hf');
  assert.deepEqual(loaded.cfg, fixtureCfg);
  const a = features(weights, fixtureCfg), b = features(loaded.sd, loaded.cfg);
  for (const k of ['patch_tokens_proj', 'target', 'pooled']) {
    assert.ok(relL2(b[k], a[k]) <= 1e-6, `${k}: HF-loaded vs OpenAI relative L2 ${relL2(b[k], a[k])}`);
    assert.ok(relL2(b[k], outputs.get(k)!.data as Float32Array) <= 1e-4, `${k} vs the official outputs`);
  }
});

test('HF → OpenAI restores every tensor exactly; the head count comes from an HF config.json beside the file', () => {
  const back = hfToOpenai(openaiToHf(weights));
  assert.deepEqual([...back.keys()].sort(), [...weights.keys()].sort());
  for (const [k, t] of weights) {
    assert.deepEqual(back.get(k)!.shape, t.shape, k);
    assert.deepEqual(back.get(k)!.data, t.data, k);
  }
  const d = path.join(tmp, 'hf-sidecar');
  fs.mkdirSync(d);
  writeSafetensors(path.join(d, 'model.safetensors'), openaiToHf(weights));
  fs.writeFileSync(path.join(d, 'config.json'), JSON.stringify({ vision_config: { num_attention_heads: 2 } }));
  const w = readClipWeights(path.join(d, 'model.safetensors'));
  assert.equal(w.cfg.heads, 2);
  assert.match(w.headsFrom, /config\.json/);
});

test('a full CLIP checkpoint: visual.* is kept, the text tower ignored; shapes give the config; a wrong --teacher-arch is refused', () => {
  const full = new Map<string, RawTensor>();
  for (const [k, t] of weights) full.set(`visual.${k}`, t);
  const text = (shape: number[]): RawTensor => ({ dtype: 'F32', shape, data: new Float32Array(shape.reduce((p, d) => p * d, 1)) });
  full.set('token_embedding.weight', text([10, 8]));
  full.set('transformer.resblocks.0.attn.in_proj_weight', text([24, 8]));
  full.set('text_projection', text([8, 4]));
  full.set('logit_scale', text([]));
  const { sd, layout } = clipVisionStateDict(full);
  assert.equal(layout, 'openai');
  assert.deepEqual([...sd.keys()].sort(), [...weights.keys()].sort());
  assert.deepEqual(inferClipVisionConfig(sd, 2), fixtureCfg);
  assert.equal(inferClipVisionConfig(sd).heads, 1); // width 64 / 64
  const file = path.join(tmp, 'full.safetensors');
  writeSafetensors(file, full);
  assert.throws(() => readClipWeights(file, { arch: 'ViT-B/16' }), /is not ViT-B\/16: input_resolution 64 \(weights\) vs 224/);
  assert.throws(() => clipVisionStateDict(new Map([['foo.weight', text([2])]])), /neither an OpenAI CLIP/);
});

// ---- a TorchScript archive as torch.jit.save writes it: data.pkl (module tree), data/<key> storages, code/, constants.pkl

function crc32(bytes: Uint8Array): number {
  let c = ~0;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}

/** A STORED zip of the given entries. */
function zip(entries: [string, Uint8Array][]): Buffer {
  const parts: Buffer[] = [], central: Buffer[] = [];
  let offset = 0;
  for (const [name, data] of entries) {
    const n = Buffer.from(name), crc = crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0); local.writeUInt16LE(20, 4); local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18); local.writeUInt32LE(data.length, 22); local.writeUInt16LE(n.length, 26);
    const cd = Buffer.alloc(46);
    cd.writeUInt32LE(0x02014b50, 0); cd.writeUInt16LE(20, 4); cd.writeUInt16LE(20, 6); cd.writeUInt32LE(crc, 16);
    cd.writeUInt32LE(data.length, 20); cd.writeUInt32LE(data.length, 24); cd.writeUInt16LE(n.length, 28); cd.writeUInt32LE(offset, 42);
    parts.push(local, n, Buffer.from(data));
    central.push(cd, n);
    offset += 30 + n.length + data.length;
  }
  const cdBuf = Buffer.concat(central);
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0); eocd.writeUInt16LE(entries.length, 8); eocd.writeUInt16LE(entries.length, 10);
  eocd.writeUInt32LE(cdBuf.length, 12); eocd.writeUInt32LE(offset, 16);
  return Buffer.concat([...parts, cdBuf, eocd]);
}

type Node = RawTensor | { cls: string; attrs: [string, Node | boolean | number][] };

/** Protocol-2 pickle of a module tree: objects are GLOBAL cls, NEWOBJ, BUILD {attrs}; tensors _rebuild_tensor_v2 on storages. */
class TorchScriptWriter {
  readonly storages: [string, Uint8Array][] = [];
  private out: number[] = [0x80, 2];
  private bytes(b: Iterable<number>) { for (const x of b) this.out.push(x); }
  private global(mod: string, name: string) { this.bytes([0x63, ...Buffer.from(`${mod}\n${name}\n`)]); }
  private str(s: string) { const b = Buffer.from(s); const l = Buffer.alloc(4); l.writeUInt32LE(b.length); this.bytes([0x58, ...l, ...b]); }
  private int(v: number) { const l = Buffer.alloc(4); l.writeInt32LE(v); this.bytes([0x4a, ...l]); }
  private ints(vs: number[]) { this.bytes([0x28]); vs.forEach((v) => this.int(v)); this.bytes([0x74]); }
  value(v: Node | boolean | number): void {
    if (typeof v === 'boolean') return this.bytes([v ? 0x88 : 0x89]);
    if (typeof v === 'number') return this.int(v);
    if ('cls' in v) {
      const dot = v.cls.lastIndexOf('.');
      this.global(v.cls.slice(0, dot), v.cls.slice(dot + 1));
      this.bytes([0x29, 0x81, 0x7d, 0x28]);
      for (const [k, c] of v.attrs) { this.str(k); this.value(c); }
      return this.bytes([0x75, 0x62]);
    }
    // half-precision storage for 1-D tensors, and matrices stored transposed (a strided view), to cover both paths
    const key = String(this.storages.length);
    const half = v.shape.length === 1;
    const transposed = v.shape.length === 2;
    const [r, c] = v.shape;
    const vals = transposed ? Float32Array.from({ length: r * c }, (_, i) => (v.data as Float32Array)[(i % r) * c + Math.floor(i / r)]) : (v.data as Float32Array);
    const data = half ? new Uint8Array(Uint16Array.from(vals, f32ToF16Bits).buffer) : new Uint8Array(Float32Array.from(vals).buffer);
    this.storages.push([key, data]);
    this.global('torch._utils', '_rebuild_tensor_v2');
    this.bytes([0x28, 0x28]);
    this.str('storage'); this.global('torch', half ? 'HalfStorage' : 'FloatStorage'); this.str(key); this.str('cpu'); this.int(vals.length);
    this.bytes([0x74, 0x51]);
    this.int(0);
    this.ints(v.shape);
    this.ints(transposed ? [1, r] : v.shape.map((_, i) => v.shape.slice(i + 1).reduce((p, d) => p * d, 1)));
    this.bytes([0x89]);
    this.global('collections', 'OrderedDict');
    this.bytes([0x29, 0x52, 0x74, 0x52]);
  }
  finish(): Uint8Array { this.bytes([0x2e]); return Uint8Array.from(this.out); }
}

/** Dotted state-dict keys → a module tree of __torch__ objects (numeric children as a Sequential). */
function moduleTree(sd: Map<string, RawTensor>, cls: string): Node {
  const root: { cls: string; attrs: [string, Node | boolean][] } = { cls, attrs: [['training', false]] };
  for (const [k, t] of sd) {
    const parts = k.split('.');
    let node = root;
    for (const p of parts.slice(0, -1)) {
      let child = node.attrs.find(([n]) => n === p)?.[1] as typeof root | undefined;
      if (!child) {
        child = { cls: `__torch__.torch.nn.modules.${/^\d+$/.test(p) ? 'Block' : 'Module'}`, attrs: [['training', false]] };
        node.attrs.push([p, child]);
      }
      node = child;
    }
    node.attrs.push([parts[parts.length - 1], t]);
  }
  return root;
}

test("OpenAI's TorchScript .pt layout: tensors found by attribute path, half and strided storages decoded, text tower ignored", () => {
  const full = new Map<string, RawTensor>();
  for (const [k, t] of weights) full.set(`visual.${k}`, t);
  full.set('token_embedding.weight', { dtype: 'F32', shape: [5, 4], data: new Float32Array(20).fill(1) });
  const w = new TorchScriptWriter();
  w.value(moduleTree(full, '__torch__.clip.model.CLIP'));
  const pkl = w.finish();
  const file = path.join(tmp, 'ViT-test.pt');
  fs.writeFileSync(file, zip([
    ['ViT-test/data.pkl', pkl],
    ['ViT-test/code/__torch__/clip/model.py', new Uint8Array(Buffer.from('# code'))],
    ['ViT-test/constants.pkl', Uint8Array.from([0x80, 2, 0x29, 0x2e])],
    ...w.storages.map(([k, d]) => [`ViT-test/data/${k}`, d] as [string, Uint8Array]),
  ]));
  const tensors = readTensorFile(file);
  assert.equal(tensors.size, full.size);
  const loaded = readClipWeights(file, { heads: 2 });
  assert.equal(loaded.layout, 'openai');
  assert.deepEqual(loaded.cfg, fixtureCfg);
  for (const [k, t] of weights) {
    const got = loaded.sd.get(k)!.data as Float32Array;
    if (t.shape.length === 1) assert.ok(relL2(got, t.data as Float32Array) < 1e-3, `${k} (half)`); // F16 rounding
    else assert.deepEqual(got, t.data, k);
  }
});
