// Bad input to pre-training: unreadable files are named and skipped while training goes on; an empty or
// missing folder fails before any work.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { createReferenceBackend } from '../../src/backends/reference/reference_backend';
import { pretrain, type PretrainOptions } from '../../src/pretrain/run';
import { repoRoot } from '../helpers';

const opts = (data: string, out: string): PretrainOptions => ({
  data, arch: 'itpn_tiny', imgSize: 32, batch: 4, accumIter: 1, steps: 3, blr: 1.5e-3, minLr: 0, warmupSteps: 1,
  weightDecay: 0.05, seed: 0, out, resume: false, workers: 1, vizEvery: 0, saveEvery: 0, maskRatio: 0.75,
});

test('corrupt JPEG, text file named .jpg and a 1×1 image: bad files named and skipped, training runs', async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'itpn-bad-'));
  const data = path.join(tmp, 'images', 'cls');
  fs.mkdirSync(data, { recursive: true });
  const src = path.join(repoRoot, 'data', 'imagenette-mini', 'val');
  const good = fs.readdirSync(src).flatMap((c) => fs.readdirSync(path.join(src, c)).slice(0, 1).map((f) => path.join(src, c, f))).slice(0, 6);
  good.forEach((f, i) => fs.copyFileSync(f, path.join(data, `good${i}.jpg`)));
  const jpeg = fs.readFileSync(good[0]);
  fs.writeFileSync(path.join(data, 'corrupt.jpg'), jpeg.subarray(0, 200)); // truncated JPEG
  fs.writeFileSync(path.join(data, 'notes.jpg'), 'this is a text file, not an image\n');
  await sharp({ create: { width: 1, height: 1, channels: 3, background: { r: 200, g: 10, b: 10 } } }).png().toFile(path.join(data, 'tiny.png'));
  const warnings: string[] = [];
  const origWrite = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string | Uint8Array) => { warnings.push(String(chunk)); return true; }) as typeof process.stderr.write;
  let summary;
  try {
    summary = await pretrain(createReferenceBackend(), opts(path.join(tmp, 'images'), path.join(tmp, 'out')), () => undefined);
  } finally {
    process.stderr.write = origWrite;
  }
  assert.equal(summary.steps, 3);
  assert.deepEqual(summary.skippedImages.map((p) => path.basename(p)).sort(), ['corrupt.jpg', 'notes.jpg']);
  const text = warnings.join('');
  assert.match(text, /corrupt\.jpg/);
  assert.match(text, /notes\.jpg/);
  assert.ok(fs.existsSync(path.join(tmp, 'out', 'checkpoint', 'model.safetensors')));
  fs.rmSync(tmp, { recursive: true, force: true });
});

test('an empty folder or a missing folder fails fast with a clear message', async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'itpn-empty-'));
  const t0 = Date.now();
  await assert.rejects(pretrain(createReferenceBackend(), opts(tmp, path.join(tmp, 'out')), () => undefined), new RegExp(tmp.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
  await assert.rejects(pretrain(createReferenceBackend(), opts('/nonexistent/images', path.join(tmp, 'out')), () => undefined), /\/nonexistent\/images/);
  assert.ok(Date.now() - t0 < 5000);
  assert.ok(!fs.existsSync(path.join(tmp, 'out')), 'no output folder is created before the data is validated');
  fs.rmSync(tmp, { recursive: true, force: true });
});
