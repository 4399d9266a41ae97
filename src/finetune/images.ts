// Image files given by name on the command line (predict, features): decoded with the eval transform (shorter side
// to img/0.875, centre crop), each failure kept with its file name so the other images still run.
import * as fs from 'node:fs';
import { decodeImage } from '../data/decode_worker';
import { DEFAULT_CROP_PCT } from '../data/transforms';

export interface DecodedImage {
  path: string;
  /** [3, S, S], ImageNet-normalised. */
  data: Float32Array;
}

export interface DecodeFailure {
  path: string;
  error: string;
}

export async function decodeImageFiles(paths: string[], imgSize: number, cropPct = DEFAULT_CROP_PCT): Promise<{ ok: DecodedImage[]; failed: DecodeFailure[] }> {
  const ok: DecodedImage[] = [], failed: DecodeFailure[] = [];
  for (const p of paths) {
    if (!fs.existsSync(p)) {
      failed.push({ path: p, error: 'no such file' });
      continue;
    }
    if (fs.statSync(p).isDirectory()) {
      failed.push({ path: p, error: 'is a folder, not an image' });
      continue;
    }
    try {
      ok.push({ path: p, data: await decodeImage({ path: p, imgSize, train: false, scale: [0.08, 1], ratio: [3 / 4, 4 / 3], cropPct }) });
    } catch (e) {
      failed.push({ path: p, error: `not a readable image (${(e as Error).message.replace(/\s+/g, ' ')})` });
    }
  }
  return { ok, failed };
}

/**
 * Decodes `paths` one batch of `batchSize` files at a time (so the images are never all in memory at once) and calls
 * `each` with the readable images of every batch; `onProgress` gets the number of files handled so far. Returns the
 * files that could not be read.
 */
export async function forEachDecodedBatch(paths: string[], imgSize: number, batchSize: number, each: (images: DecodedImage[]) => void,
  onProgress?: (done: number) => void): Promise<DecodeFailure[]> {
  const failed: DecodeFailure[] = [];
  let done = 0;
  for (const group of chunks(paths, batchSize)) {
    const decoded = await decodeImageFiles(group, imgSize);
    failed.push(...decoded.failed);
    if (decoded.ok.length > 0) each(decoded.ok);
    done += group.length;
    onProgress?.(done);
  }
  return failed;
}

/** Consecutive slices of at most `size` items. */
export function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Stacks decoded images into one [B, 3, S, S] array. */
export function stackImages(images: DecodedImage[]): Float32Array {
  return concatFloat32(images.map((im) => im.data));
}

/** The arrays one after the other in a new array. */
export function concatFloat32(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}
