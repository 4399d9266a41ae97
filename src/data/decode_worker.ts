// Worker thread: decodes one image file with sharp (or takes its pixels from the loader's cache), applies the
// planned crop/resize/flip and returns ImageNet-normalised CHW float32 (buffer transferred, not copied).
import { promises as fs } from 'fs';
import { parentPort } from 'worker_threads';
import sharp from 'sharp';
import type { DecodedPixels, DecodeJob, DecodeRequest, DecodeResponse } from './decode_pool';
import { ReplayRng } from './rng';
import { TRAIN_UNIFORMS_PER_SAMPLE, normalizeToChw, planEvalTransform, planTrainTransform } from './transforms';
import { augmentAndNormalize } from './augment';
import { COLOR_JITTER_UNIFORMS, colorJitter } from './augment/color_jitter';
import { toRgb } from './augment/image_ops';

/** The file's pixels as 8-bit sRGB without alpha: the input of every crop and resize below. */
export async function decodePixels(file: string): Promise<DecodedPixels> {
  const { data, info } = await sharp(await fs.readFile(file)).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  if (!info.width || !info.height) throw new Error('image has no size');
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height, channels: info.channels };
}

/**
 * The job's image (decoded here, or the cached pixels it carries) cropped, resized and normalised. Always resized
 * from the decoded pixels, so a cached and an uncached epoch are identical; for 8-bit images (every JPEG) this gives
 * the same bytes as one sharp pipeline from the file (checked on the shipped data and a CMYK JPEG), while 16-bit or
 * alpha PNGs now reach 8-bit sRGB before the resize instead of after it (last-bit differences).
 */
export async function decodeImageAndPixels(job: DecodeJob): Promise<{ data: Float32Array; pixels: DecodedPixels }> {
  const src = job.pixels ?? (await decodePixels(job.path));
  let plan;
  if (job.train) {
    if (!job.uniforms) throw new Error('training decode job without pre-drawn random numbers');
    plan = planTrainTransform(src.width, src.height, job.imgSize, new ReplayRng(job.uniforms), job.scale, job.ratio);
  } else {
    plan = planEvalTransform(src.width, src.height, job.imgSize, job.cropPct);
  }
  // ColorJitter comes first in the official CLIP transform, on the whole image (contrast blends with its mean grey)
  let source: DecodedPixels = src;
  const jitter = job.train && job.colorJitter ? job.colorJitter : 0;
  if (jitter > 0) {
    const jittered = colorJitter(toRgb(src.data, src.width, src.height, src.channels), jitter, new ReplayRng(job.uniforms!.subarray(TRAIN_UNIFORMS_PER_SAMPLE)));
    source = { data: jittered.data, width: src.width, height: src.height, channels: 3 }; // new bytes: the cached pixels stay as decoded
  }
  let pipeline = sharp(source.data, { raw: { width: source.width, height: source.height, channels: source.channels as 1 | 2 | 3 | 4 } });
  if (plan.cropBefore) pipeline = pipeline.extract(plan.cropBefore); // extract before resize = crop of the source
  // a plain bicubic resize (fastShrinkOnLoad only applies to files; kept off explicitly)
  pipeline = pipeline.resize(plan.resizeWidth, plan.resizeHeight, { kernel: 'cubic', fit: 'fill', fastShrinkOnLoad: false });
  if (plan.cropAfter) pipeline = pipeline.extract(plan.cropAfter);
  const { data, info } = await pipeline.raw().toBuffer({ resolveWithObject: true });
  if (info.width !== job.imgSize || info.height !== job.imgSize) {
    throw new Error(`decoded to ${info.width}x${info.height}, expected ${job.imgSize}x${job.imgSize}`);
  }
  const pixels = new Uint8Array(data.buffer, data.byteOffset, data.length);
  if (job.augment) {
    const rng = new ReplayRng(job.uniforms!.subarray(TRAIN_UNIFORMS_PER_SAMPLE + (jitter > 0 ? COLOR_JITTER_UNIFORMS : 0)));
    return { data: augmentAndNormalize(pixels, info.width, info.height, info.channels, plan.flip, job.augment, rng), pixels: src };
  }
  // the flip is done while normalising: exact, and independent of sharp's operation order
  return { data: normalizeToChw(pixels, info.width, info.height, info.channels, plan.flip), pixels: src };
}

/** decodeImageAndPixels without the source pixels. */
export async function decodeImage(job: DecodeJob): Promise<Float32Array> {
  return (await decodeImageAndPixels(job)).data;
}

if (parentPort) {
  const port = parentPort;
  sharp.cache(false); // every file is read once per epoch; caching only costs memory
  port.on('message', (request: DecodeRequest) => {
    decodeImageAndPixels(request).then(
      ({ data, pixels }) => {
        // pixels go back in an array of their own (sharp's output buffer may share its memory), moved, not copied
        const back = request.returnPixels && !request.pixels ? { ...pixels, data: pixels.data.slice() } : undefined;
        const response: DecodeResponse = { id: request.id, ok: true, data, ...(back ? { pixels: back } : {}) };
        port.postMessage(response, [data.buffer as ArrayBuffer, ...(back ? [back.data.buffer as ArrayBuffer] : [])]);
      },
      (err: unknown) => {
        const response: DecodeResponse = { id: request.id, ok: false, error: err instanceof Error ? err.message : String(err) };
        port.postMessage(response);
      },
    );
  });
}
