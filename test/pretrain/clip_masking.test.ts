// BEiT block masking for CLIP pre-training: the scaled counts, mask shape and values, the count bounds, that masks
// are made of blocks, and that a seed replays the same masks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/engine/random';
import { createReferenceBackend } from '../../src/backends/reference/reference_backend';
import { blockMask, blockMaskBatch, scaledBlockMaskOptions } from '../../src/pretrain/masking_generator';

const count = (m: Uint8Array) => m.reduce((p, v) => p + v, 0);

test('scaled counts: 75 of 196 with blocks of 16 at 224, scaled with the number of patches elsewhere', () => {
  assert.deepEqual(scaledBlockMaskOptions(14, 14), { height: 14, width: 14, numMasking: 75, minPatches: 16 });
  assert.deepEqual(scaledBlockMaskOptions(7, 7), { height: 7, width: 7, numMasking: 19, minPatches: 4 });
  assert.deepEqual(scaledBlockMaskOptions(4, 4), { height: 4, width: 4, numMasking: 6, minPatches: 1 });
  assert.deepEqual(scaledBlockMaskOptions(16, 16), { height: 16, width: 16, numMasking: 98, minPatches: 21 });
});

test('masks are 0/1 of the grid size, never above the target, mostly close to it', () => {
  for (const [h, w] of [[14, 14], [7, 7], [4, 4], [6, 9]]) {
    const o = scaledBlockMaskOptions(h, w);
    const rng = new Rng(7);
    let total = 0;
    const runs = 200;
    for (let i = 0; i < runs; i++) {
      const m = blockMask(o, rng);
      assert.equal(m.length, h * w);
      assert.ok(m.every((v) => v === 0 || v === 1));
      const c = count(m);
      assert.ok(c <= o.numMasking, `${h}×${w}: ${c} masked > target ${o.numMasking}`);
      assert.ok(c >= Math.min(o.minPatches, o.numMasking) || c >= 1, `${h}×${w}: only ${c} masked`);
      total += c;
    }
    // BEiT's generator stops early only when a round of 10 attempts adds nothing: the mean stays near the target
    assert.ok(total / runs >= 0.8 * o.numMasking, `${h}×${w}: mean ${total / runs} masked, target ${o.numMasking}`);
  }
});

/** 4-connected components of a row-major 0/1 mask. */
function components(m: Uint8Array, H: number, W: number): number {
  const seen = new Uint8Array(m.length);
  let n = 0;
  for (let s = 0; s < m.length; s++) {
    if (!m[s] || seen[s]) continue;
    n++;
    const stack = [s];
    seen[s] = 1;
    while (stack.length) {
      const k = stack.pop()!;
      const r = Math.floor(k / W), c = k % W;
      for (const [dr, dc] of [[1, 0], [-1, 0], [0, 1], [0, -1]]) {
        const rr = r + dr, cc = c + dc, j = rr * W + cc;
        if (rr >= 0 && rr < H && cc >= 0 && cc < W && m[j] && !seen[j]) {
          seen[j] = 1;
          stack.push(j);
        }
      }
    }
  }
  return n;
}

test('masks are made of blocks: few connected pieces, unlike a scattered mask of the same size', () => {
  const o = scaledBlockMaskOptions(14, 14);
  const rng = new Rng(9);
  let blockPieces = 0, scatterPieces = 0;
  for (let i = 0; i < 100; i++) {
    const m = blockMask(o, rng);
    blockPieces += components(m, 14, 14);
    const scatter = new Uint8Array(196);
    const perm = rng.permutation(196);
    for (let j = 0; j < count(m); j++) scatter[perm[j]] = 1;
    scatterPieces += components(scatter, 14, 14);
  }
  assert.ok(blockPieces / 100 <= 6, `block masks average ${blockPieces / 100} pieces`);
  assert.ok(scatterPieces > 2 * blockPieces, `scattered ${scatterPieces / 100} vs block ${blockPieces / 100} pieces`);
});

test('the same seed replays the same masks; another seed gives others', () => {
  const o = scaledBlockMaskOptions(14, 14);
  const a = new Rng(11), b = new Rng(11), c = new Rng(12);
  const ma = Array.from({ length: 20 }, () => blockMask(o, a));
  const mb = Array.from({ length: 20 }, () => blockMask(o, b));
  const mc = Array.from({ length: 20 }, () => blockMask(o, c));
  assert.deepEqual(ma, mb);
  assert.notDeepEqual(ma, mc);
});

test('blockMaskBatch is [B, N] float with one generator draw sequence per sample', () => {
  const backend = createReferenceBackend();
  const o = scaledBlockMaskOptions(4, 4);
  const t = blockMaskBatch(backend, 3, o, new Rng(5));
  assert.deepEqual(t.shape, [3, 16]);
  assert.equal(t.dtype, 'float32');
  const rng = new Rng(5);
  const expected = [0, 1, 2].flatMap(() => [...blockMask(o, rng)]);
  assert.deepEqual([...t.toArray()], expected);
});
