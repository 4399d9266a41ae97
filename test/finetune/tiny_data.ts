// A tiny labelled data set for the fine-tuning tests: the first `perClass` train and val images of the first
// `classes` class folders of data/imagenette-mini, with its classes.tsv, in a temporary folder.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { repoRoot } from '../helpers';

export const MINI = path.join(repoRoot, 'data', 'imagenette-mini');

export function makeTinyData(opts: { classes: number; train: number; val: number }): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'itpn-ft-data-'));
  for (const [split, n] of [['train', opts.train], ['val', opts.val]] as const) {
    const src = path.join(MINI, split);
    for (const c of fs.readdirSync(src).sort().slice(0, opts.classes)) {
      fs.mkdirSync(path.join(root, split, c), { recursive: true });
      for (const f of fs.readdirSync(path.join(src, c)).sort().slice(0, n)) fs.copyFileSync(path.join(src, c, f), path.join(root, split, c, f));
    }
  }
  fs.copyFileSync(path.join(MINI, 'classes.tsv'), path.join(root, 'classes.tsv'));
  return root;
}
