// `itpn reconstruct`: a pixel pre-training run's reconstructions of given images as one picture, the same from the
// bare weight file with --arch (the config inferred from the weights, as for an official .pth), and clear refusals
// of checkpoints that cannot reconstruct.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { createCpuBackend } from '../../src/backends/cpu/cpu_backend';
import { writeSafetensors } from '../../src/io/safetensors';
import { pretrain } from '../../src/pretrain/run';
import { repoRoot } from '../helpers';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'itpn-reconstruct-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const bin = path.join(repoRoot, 'bin', 'itpn.js');
const val = path.join(repoRoot, 'data', 'imagenette-mini', 'val');
const images = fs.readdirSync(val).sort().slice(0, 2).map((c) => path.join(val, c, fs.readdirSync(path.join(val, c)).sort()[0]));

function itpn(...args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, out: r.stdout + r.stderr };
}

test('reconstruct: a picture and the masked-patch loss; the bare weights with --arch give the same', async () => {
  const run = path.join(tmp, 'run');
  await pretrain(createCpuBackend({ threads: 1 }), {
    data: val, arch: 'itpn_tiny', imgSize: 64, batch: 4, accumIter: 1, steps: 2, blr: 1.5e-3, minLr: 0, warmupSteps: 1,
    weightDecay: 0.05, seed: 1, out: run, resume: false, workers: 1, vizEvery: 0, saveEvery: 0, maskRatio: 0.75,
  }, () => undefined);

  const png = path.join(tmp, 'out', 'grid.png');
  const r = itpn('reconstruct', ...images, path.join(tmp, 'missing.jpg'), '--checkpoint', run, '--out', png, '--seed', '3');
  assert.equal(r.status, 1, r.out); // one file could not be read; the other two are drawn
  assert.match(r.out, /missing\.jpg/);
  const loss = /2 images, 75% of 16 patches masked \(seed 3\): loss (\d+\.\d+) on the masked patches/.exec(r.out);
  assert.ok(loss, r.out);
  const meta = await sharp(png).metadata();
  assert.ok(meta.width! >= 4 * 64 && meta.height! >= 2 * 64, `${meta.width}×${meta.height}: four columns, two rows`);

  // the weights alone, as an official file comes: no config.json, so the architecture is given
  const bare = path.join(tmp, 'bare');
  fs.mkdirSync(bare);
  fs.copyFileSync(path.join(run, 'checkpoint', 'model.safetensors'), path.join(bare, 'weights.safetensors'));
  const w = path.join(bare, 'weights.safetensors');
  const noArch = itpn('reconstruct', images[0], '--checkpoint', w, '--out', path.join(tmp, 'x.png'));
  assert.equal(noArch.status, 2, noArch.out);
  assert.match(noArch.out, /has no config\.json beside it; give --arch/);
  const r2 = itpn('reconstruct', ...images, '--checkpoint', w, '--arch', 'itpn_tiny', '--out', path.join(tmp, 'bare.png'), '--seed', '3');
  assert.equal(r2.status, 0, r2.out);
  assert.match(r2.out, new RegExp(`loss ${loss[1]} on the masked patches`), 'the same loss as from the run');
});

test('reconstruct refuses classifiers and checkpoints without a pixel decoder, by name', () => {
  const head = path.join(tmp, 'classifier.safetensors');
  writeSafetensors(head, [{ name: 'head.weight', tensor: { dtype: 'F32', shape: [2, 2], data: new Float32Array(4) } }]);
  const a = itpn('reconstruct', images[0], '--checkpoint', head, '--arch', 'itpn_tiny');
  assert.equal(a.status, 2, a.out);
  assert.match(a.out, /is a fine-tuned classifier: it has no pixel decoder/);
  const enc = path.join(tmp, 'encoder.safetensors');
  writeSafetensors(enc, [{ name: 'patch_embed.proj.weight', tensor: { dtype: 'F32', shape: [1], data: new Float32Array(1) } }]);
  const b = itpn('reconstruct', images[0], '--checkpoint', enc, '--arch', 'itpn_tiny');
  assert.equal(b.status, 2, b.out);
  assert.match(b.out, /has no pixel decoder \(decoder_pred\.weight\)/);
});
