// `itpn info <arch> [--task T] [--keys] [--json]`: parameter count, forward GMACs and (optionally) every
// state-dict key with its shape. Also accepts the combined names of official-architectures.json.
import { Rng } from '../engine/random';
import { buildModel, forwardMacs, taskConfig, TASKS, type Task } from '../models/itpn/factory';
import { createBackend } from './backend_choice';

export interface InfoOptions {
  task?: string;
  keys: boolean;
  json: boolean;
  imgSize?: number;
  numClasses?: number;
  teacherDim?: number;
}

/** itpn_base_pixel_pretrain, itpn_large_classify_1000, itpn_base_clip_pretrain_teacher512, ... */
export function parseCombinedName(name: string): { arch: string; task: Task; overrides: Record<string, unknown> } | null {
  const m = /^(itpn_(?:tiny|small|base|large_256|large))_(pixel_pretrain|clip_pretrain_teacher(\d+)|classify_(\d+))$/.exec(name);
  if (!m) return null;
  if (m[2] === 'pixel_pretrain') return { arch: m[1], task: 'pixel', overrides: {} };
  if (m[3]) return { arch: m[1], task: 'clip', overrides: { teacher_dim: Number(m[3]) } };
  return { arch: m[1], task: 'classify', overrides: { num_classes: Number(m[4]) } };
}

export function infoCommand(name: string, opts: InfoOptions): number {
  const combined = parseCombinedName(name);
  const arch = combined?.arch ?? name;
  const task = (opts.task ?? combined?.task ?? 'classify') as Task;
  if (!TASKS.includes(task)) throw new Error(`unknown task "${task}" (known: ${TASKS.join(', ')})`);
  const overrides: Record<string, unknown> = { ...(combined?.overrides ?? {}) };
  if (opts.imgSize) overrides.img_size = opts.imgSize;
  if (opts.numClasses) overrides.num_classes = opts.numClasses;
  if (opts.teacherDim) overrides.teacher_dim = opts.teacherDim;
  const cfg = taskConfig(arch, task, overrides);
  const model = buildModel({ backend: createBackend('reference', undefined, 'float32'), rng: new Rng(0), shapeOnly: true }, cfg, task);
  const tensors = model.namedTensors();
  const params = model.parameterCount();
  const gmacs = forwardMacs(cfg, task) / 1e9;
  if (opts.json) {
    const out: Record<string, unknown> = { name, arch, task, img_size: cfg.img_size, params, tensors: tensors.length, forward_gmacs: gmacs, config: cfg };
    if (opts.keys) out.keys = Object.fromEntries(tensors.map(([k, t]) => [k, t.shape]));
    console.log(JSON.stringify(out, null, opts.keys ? 0 : 2));
  } else {
    console.log(`${name}: ${arch}, task ${task}, input ${cfg.img_size}×${cfg.img_size}`);
    console.log(`  parameters      ${params.toLocaleString('en-US')} (${(params / 1e6).toFixed(2)} M) in ${tensors.length} state-dict tensors`);
    console.log(`  forward         ${gmacs.toFixed(2)} GMACs (${(2 * gmacs).toFixed(2)} GFLOPs)${task === 'pixel' ? ', encoder on visible tokens' : ''}`);
    if (opts.keys) for (const [k, t] of tensors) console.log(`  ${k.padEnd(60)} [${t.shape.join(', ')}] ${t.dtype === 'int32' ? 'int64 buffer' : ''}`);
  }
  model.dispose();
  return 0;
}
