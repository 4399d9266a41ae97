// `itpn pretrain`: parses options into a typed PretrainOptions (unknown values are errors), runs pixel or CLIP
// pre-training (optionally with MFM) and prints the summary.
import * as path from 'node:path';
import { withInterrupts } from '../training/interrupt';
import { pretrain, type MFMOptions, type PretrainOptions, type PretrainVariant } from '../pretrain/run';
import type { TeacherInput } from '../pretrain/teacher';
import { createBackend, precisionNotice } from './backend_choice';

/** Default base lr per 256 images. Pixel: 10× the official 1.5e-4, since short small-batch runs want more. CLIP: the
 * official 1.5e-3 absolute at batch 2048 is blr 1.875e-4; the same 10× for short runs gives ~1.5e-3 (see README). */
export const DEFAULT_BLR: Record<PretrainVariant, number> = { pixel: 1.5e-3, clip: 1.5e-3 };

/** The options as commander delivers them (strings for lists and enums). */
export interface PretrainCliOptions extends Omit<PretrainOptions, 'resume' | 'variant' | 'teacher' | 'mfm' | 'betas' | 'teacherCache' | 'blr'> {
  backend: string;
  threads?: number;
  resume: boolean;
  variant: string;
  blr?: number;
  teacher?: string;
  teacherArch?: string;
  teacherInput: string;
  teacherHeads?: number;
  betas?: string;
  mfm: boolean;
  mfmWeights: string;
  mfmLayers: string;
  mfmLoss: string;
  cacheTeacher?: string | boolean;
  teacherCacheEpochs?: number;
}

function oneOf<T extends string>(flag: string, v: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(v)) throw new Error(`${flag} ${v}: expected one of ${allowed.join(', ')}`);
  return v as T;
}

function numberList(flag: string, v: string, n: number): number[] {
  const xs = v.split(',').map((s) => Number(s.trim()));
  if (xs.length !== n || xs.some((x) => !Number.isFinite(x))) throw new Error(`${flag} ${v}: expected ${n} comma-separated numbers`);
  return xs;
}

export function resolvePretrainOptions(o: PretrainCliOptions): PretrainOptions {
  const variant = oneOf('--variant', o.variant, ['pixel', 'clip'] as const);
  const { backend: _backend, threads: _threads, variant: _variant, blr, betas, teacher, teacherArch, teacherInput, teacherHeads,
    mfm: _mfm, mfmWeights, mfmLayers, mfmLoss, cacheTeacher, teacherCacheEpochs, ...rest } = o;
  if (o.teacher === undefined && (variant === 'clip' || o.mfm)) throw new Error(`--teacher is required with ${variant === 'clip' ? '--variant clip' : '--mfm'}`);
  if (o.teacher !== undefined && variant === 'pixel' && !o.mfm) throw new Error('--teacher is only used by --variant clip or --mfm');
  let mfm: MFMOptions | undefined;
  if (o.mfm) {
    const layers = mfmLayers.split(',').map((s) => s.trim()).map((s) => {
      if (s === 'final') return null;
      const k = Number(s);
      if (!Number.isInteger(k) || k < 1) throw new Error(`--mfm-layers ${mfmLayers}: each entry is "final" or a block count ≥ 1`);
      return k;
    });
    if (layers.length !== 3) throw new Error(`--mfm-layers ${mfmLayers}: expected 3 entries (stride 16, 8, 4)`);
    mfm = {
      weights: numberList('--mfm-weights', mfmWeights, 3) as [number, number, number],
      layers: layers as [number | null, number | null, number | null],
      loss: oneOf('--mfm-loss', mfmLoss, ['smooth_l1', 'mse'] as const),
    };
  }
  return {
    ...rest,
    variant,
    blr: blr ?? DEFAULT_BLR[variant],
    betas: betas ? numberList('--betas', betas, 2) as [number, number] : undefined,
    teacher: teacher === undefined ? undefined : {
      path: teacher, arch: teacherArch, heads: teacherHeads,
      input: oneOf('--teacher-input', teacherInput, ['clip', 'official'] as const) as TeacherInput,
    },
    mfm,
    teacherCache: cacheTeacher ? { dir: typeof cacheTeacher === 'string' ? cacheTeacher : path.join(o.out, 'teacher-cache'), epochs: teacherCacheEpochs } : undefined,
  };
}

export async function pretrainCommand(o: PretrainCliOptions): Promise<number> {
  const opts = resolvePretrainOptions(o);
  const backend = createBackend(o.backend, o.threads);
  const notice = precisionNotice();
  if (notice) console.log(notice);
  const summary = await withInterrupts((stop) => pretrain(backend, { ...opts, stop }));
  const rel = (p: string) => path.relative(process.cwd(), p) || '.';
  if (summary.interrupted) {
    console.log(`\ninterrupted at step ${summary.steps} of ${opts.steps}; checkpoint ${rel(summary.checkpoint)}/ saved. Continue with the same command plus --resume.`);
    return 130;
  }
  console.log(`\ndone: ${summary.steps} steps in ${summary.seconds.toFixed(1)} s, ${summary.imagesPerSecond.toFixed(1)} images/s`);
  console.log(`loss ${summary.firstLoss.toFixed(4)} (first 5 steps) → ${summary.lastLoss.toFixed(4)} (last 5 steps)`);
  if (summary.skippedImages.length) console.log(`skipped ${summary.skippedImages.length} unreadable images: ${summary.skippedImages.slice(0, 5).join(', ')}`);
  console.log(`checkpoint      ${rel(summary.checkpoint)}/model.safetensors (+ optimizer.safetensors, trainer.json)`);
  if (summary.variant === 'pixel') console.log(`reconstruction  ${rel(path.join(summary.out, 'reconstruction.png'))}`);
  console.log(`loss curve      ${rel(path.join(summary.out, 'loss.png'))}`);
  console.log(`step log        ${rel(path.join(summary.out, 'log.jsonl'))}`);
  return 0;
}
