// config.json of a training run (pretrain, finetune): what the run was started with, for people and for tools that
// rebuild the model (eval, predict, features read `arch`, `task` and `config` from it).
import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * Writes outDir/config.json: `fields` as given, plus `options` without `stop`, which is the live Ctrl+C flag of this
 * process and not a setting of the run.
 */
export function writeRunConfig(outDir: string, fields: Record<string, unknown>, options: { stop?: unknown }): void {
  const { stop: _live, ...settings } = options;
  fs.writeFileSync(path.join(outDir, 'config.json'), JSON.stringify({ ...fields, options: settings }, null, 2));
}

/** What a resumed run must share with the run it continues: the model's architecture, task and input size. */
export interface RunIdentity {
  arch: string;
  task: string;
  imgSize: number;
}

const describeRun = (r: Partial<RunIdentity>) => `${r.arch} ${r.task} at ${r.imgSize} px`;

/**
 * Before --resume loads a checkpoint: compares the command's architecture, task and input size with the config.json
 * the run was started with, and throws one sentence naming both when they differ (otherwise loading reports every
 * mismatched parameter shape, hundreds of lines for a different --arch). No or unreadable config.json: nothing to
 * compare, the checkpoint's own shape check still applies.
 */
export function checkResumeMatches(outDir: string, now: RunIdentity): void {
  let was: { arch?: string; task?: string; config?: { img_size?: number } };
  try {
    was = JSON.parse(fs.readFileSync(path.join(outDir, 'config.json'), 'utf8'));
  } catch {
    return;
  }
  const before: Partial<RunIdentity> = { arch: was.arch, task: was.task, imgSize: was.config?.img_size };
  const differs = (['arch', 'task', 'imgSize'] as const).some((k) => before[k] !== undefined && before[k] !== now[k]);
  if (differs) {
    throw new Error(`${outDir} was started as ${describeRun(before)}, but this command asks for ${describeRun(now)}; ` +
      '--resume continues a run with its own --arch, --variant and --img-size (use another --out for a new run)');
  }
}
