// Training checkpoints: a folder with the weights (safetensors, official key names, loadable by the official
// PyTorch code after a plain safetensors load), the optimizer moments, and trainer.json (step, RNG, schedule,
// config). Written to a temporary folder and renamed into place, so a kill never leaves a broken checkpoint.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readSafetensors, writeSafetensors } from '../io/safetensors';
import type { RawTensor } from '../io/raw_tensor';
import { assignRaw, exportStateDict, loadStateDict } from '../models/load_state_dict';
import type { Module } from '../nn/module';
import type { AdamW } from '../optim/adamw';

export const CHECKPOINT_DIR = 'checkpoint';

export interface TrainerState {
  step: number;
  epoch: number;
  rng: number[];
  [key: string]: unknown;
}

function writeJsonAtomic(file: string, value: unknown): void {
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, JSON.stringify(value, null, 2));
  fs.renameSync(tmp, file);
}

export interface SaveOptions {
  /** Folder name under outDir (default `checkpoint`). */
  dir?: string;
  /** Extra safetensors header entries of model.safetensors. */
  metadata?: Record<string, string>;
}

/** Writes outDir/checkpoint (or opts.dir); `opt` null stores weights and trainer.json only (not resumable). */
export function saveCheckpoint(outDir: string, model: Module, opt: AdamW | null, state: TrainerState, opts: SaveOptions = {}): string {
  const name = opts.dir ?? CHECKPOINT_DIR;
  const final = path.join(outDir, name);
  const tmp = path.join(outDir, `.${name}-tmp-${process.pid}`);
  const old = path.join(outDir, `.${name}-old`);
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true });
  writeSafetensors(path.join(tmp, 'model.safetensors'), exportStateDict(model), { format: 'pt', itpn_step: String(state.step), ...opts.metadata });
  if (opt) {
    const moments = new Map<string, RawTensor>();
    for (const [n, t] of opt.m) moments.set(`m.${n}`, { dtype: 'F32', shape: t.shape, data: t.toFloat32Array() });
    for (const [n, t] of opt.v) moments.set(`v.${n}`, { dtype: 'F32', shape: t.shape, data: t.toFloat32Array() });
    writeSafetensors(path.join(tmp, 'optimizer.safetensors'), moments);
  }
  writeJsonAtomic(path.join(tmp, 'trainer.json'), { ...state, optimizerStep: opt ? opt.step : null });
  fs.rmSync(old, { recursive: true, force: true });
  if (fs.existsSync(final)) fs.renameSync(final, old);
  fs.renameSync(tmp, final);
  fs.rmSync(old, { recursive: true, force: true });
  return final;
}

/** The checkpoint folder to resume from: the complete one, or the previous one if a save was interrupted. */
export function findCheckpoint(outDir: string): string | null {
  for (const name of [CHECKPOINT_DIR, '.checkpoint-old']) {
    const dir = path.join(outDir, name);
    if (fs.existsSync(path.join(dir, 'trainer.json'))) return dir;
  }
  return null;
}

export function loadCheckpoint(dir: string, model: Module, opt: AdamW): TrainerState {
  const state = JSON.parse(fs.readFileSync(path.join(dir, 'trainer.json'), 'utf8')) as TrainerState & { optimizerStep: number };
  loadStateDict(model, readSafetensors(path.join(dir, 'model.safetensors')).tensors, { source: dir });
  const moments = readSafetensors(path.join(dir, 'optimizer.safetensors')).tensors;
  for (const [name, t] of opt.m) {
    const m = moments.get(`m.${name}`), v = moments.get(`v.${name}`);
    if (!m || !v) throw new Error(`checkpoint ${dir}: optimizer state lacks moments for ${name}`);
    assignRaw(t, m);
    assignRaw(opt.v.get(name)!, v);
  }
  opt.step = state.optimizerStep;
  return state;
}
