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
