// BEiT's block-wise masking for CLIP pre-training (spec §3.2, §11.5). Mirrors itpn_clip/masking_generator.py:
// MaskingGenerator. Blocks of area U(min, remaining budget) and log-uniform aspect ratio are placed at uniform
// positions until the target count is reached or one round of 10 attempts adds nothing; the total can fall short.
//
// Scaling with the grid: the official numbers are for the 14×14 grid of a 224 input (75 of 196 patches, blocks of
// at least 16). At other sizes both counts scale with the number of patches N:
//   target = round(75/196 · N), min per block = max(1, round(16/196 · N))   (Python round: half to even)
// so 112 px (7×7) masks 19 with blocks ≥ 4, 64 px (4×4) masks 6 with blocks ≥ 1, 256 px (16×16) masks 98 with
// blocks ≥ 21. The `_256` official model keeps 75 of 256; pass `numMasking` explicitly to reproduce that.
import type { Rng } from '../engine/random';
import type { Backend } from '../engine/backend';
import type { Tensor } from '../engine/tensor';
import { tensor } from '../ops';
import { roundHalfEven } from '../data/transforms';

export interface BlockMaskOptions {
  /** Grid rows and columns (main tokens). */
  height: number;
  width: number;
  /** Patches to mask per sample (the target; the result can be below it). */
  numMasking: number;
  /** Smallest block area tried. */
  minPatches: number;
  /** Largest block area (BEiT's max_num_patches); default numMasking. */
  maxPatches?: number;
  /** Aspect-ratio range [minAspect, 1/minAspect], sampled log-uniformly. */
  minAspect?: number;
}

/** The official counts (75 of 196, blocks ≥ 16) scaled to an h×w grid, as described in the header. */
export function scaledBlockMaskOptions(height: number, width: number): BlockMaskOptions {
  const N = height * width;
  return {
    height, width,
    numMasking: roundHalfEven((75 / 196) * N),
    minPatches: Math.max(1, roundHalfEven((16 / 196) * N)),
  };
}

/** One mask, row-major [height·width], 1 = masked. Every random draw comes from `rng`. */
export function blockMask(o: BlockMaskOptions, rng: Rng): Uint8Array {
  const { height: H, width: W, numMasking, minPatches } = o;
  const maxPatches = o.maxPatches ?? numMasking;
  const minAspect = o.minAspect ?? 0.3;
  const logAspect: [number, number] = [Math.log(minAspect), Math.log(1 / minAspect)];
  const mask = new Uint8Array(H * W);

  // BEiT _mask: up to 10 attempts to place one block adding between 1 and `budget` new patches
  const placeBlock = (budget: number): number => {
    let delta = 0;
    for (let attempt = 0; attempt < 10; attempt++) {
      const area = minPatches + (budget - minPatches) * rng.uniform(); // random.uniform(min, budget), either order
      const aspect = Math.exp(logAspect[0] + (logAspect[1] - logAspect[0]) * rng.uniform());
      const h = roundHalfEven(Math.sqrt(area * aspect));
      const w = roundHalfEven(Math.sqrt(area / aspect));
      if (w < W && h < H) {
        const top = rng.randint(0, H - h);
        const left = rng.randint(0, W - w);
        let already = 0;
        for (let i = top; i < top + h; i++) for (let j = left; j < left + w; j++) already += mask[i * W + j];
        const added = h * w - already;
        if (added > 0 && added <= budget) {
          for (let i = top; i < top + h; i++) {
            for (let j = left; j < left + w; j++) {
              if (mask[i * W + j] === 0) {
                mask[i * W + j] = 1;
                delta++;
              }
            }
          }
        }
        if (delta > 0) break;
      }
    }
    return delta;
  };

  let count = 0;
  while (count < numMasking) {
    const delta = placeBlock(Math.min(numMasking - count, maxPatches));
    if (delta === 0) break;
    count += delta;
  }
  return mask;
}

/** A batch of block masks as the float [B, N] `bool_masked_pos` the CLIP model takes. */
export function blockMaskBatch(backend: Backend, B: number, o: BlockMaskOptions, rng: Rng): Tensor {
  const N = o.height * o.width;
  const a = new Float32Array(B * N);
  for (let b = 0; b < B; b++) a.set(blockMask(o, rng), b * N);
  return tensor(backend, a, [B, N]);
}
