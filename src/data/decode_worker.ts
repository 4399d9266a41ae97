// Worker thread: decodes one image file with sharp, applies the planned crop/resize/flip and
// returns ImageNet-normalised CHW float32 (buffer transferred, not copied).
import { promises as fs } from 'fs';
import { parentPort } from 'worker_threads';
import sharp from 'sharp';
import type { DecodeJob, DecodeRequest, DecodeResponse } from './decode_pool';
import { ReplayRng } from './rng';
import { TRAIN_UNIFORMS_PER_SAMPLE, normalizeToChw, planEvalTransform, planTrainTransform } from './transforms';
import { augmentAndNormalize } from './augment';

export async function decodeImage(job: DecodeJob): Promise<Float32Array> {
  const file = await fs.readFile(job.path); // read once, used for both the header and the pixels
  const meta = await sharp(file).metadata();
  if (!meta.width || !meta.height) throw new Error('image has no size');
  let plan;
  if (job.train) {
    if (!job.uniforms) throw new Error('training decode job without pre-drawn random numbers');
    plan = planTrainTransform(meta.width, meta.height, job.imgSize, new ReplayRng(job.uniforms), job.scale, job.ratio);
  } else {
    plan = planEvalTransform(meta.width, meta.height, job.imgSize, job.cropPct);
  }
  let pipeline = sharp(file).removeAlpha().toColourspace('srgb');
  if (plan.cropBefore) pipeline = pipeline.extract(plan.cropBefore); // extract before resize = crop of the source
  // fastShrinkOnLoad off: JPEG DCT down-scaling would differ from a plain bicubic resize
  pipeline = pipeline.resize(plan.resizeWidth, plan.resizeHeight, { kernel: 'cubic', fit: 'fill', fastShrinkOnLoad: false });
  if (plan.cropAfter) pipeline = pipeline.extract(plan.cropAfter);
  const { data, info } = await pipeline.raw().toBuffer({ resolveWithObject: true });
  if (info.width !== job.imgSize || info.height !== job.imgSize) {
    throw new Error(`decoded to ${info.width}x${info.height}, expected ${job.imgSize}x${job.imgSize}`);
  }
  const pixels = new Uint8Array(data.buffer, data.byteOffset, data.length);
  if (job.augment) {
    const rng = new ReplayRng(job.uniforms!.subarray(TRAIN_UNIFORMS_PER_SAMPLE));
    return augmentAndNormalize(pixels, info.width, info.height, info.channels, plan.flip, job.augment, rng);
  }
  // the flip is done while normalising: exact, and independent of sharp's operation order
  return normalizeToChw(pixels, info.width, info.height, info.channels, plan.flip);
}

if (parentPort) {
  const port = parentPort;
  sharp.cache(false); // every file is read once per epoch; caching only costs memory
  port.on('message', (request: DecodeRequest) => {
    decodeImage(request).then(
      (data) => {
        const response: DecodeResponse = { id: request.id, ok: true, data };
        port.postMessage(response, [data.buffer as ArrayBuffer]);
      },
      (err: unknown) => {
        const response: DecodeResponse = { id: request.id, ok: false, error: err instanceof Error ? err.message : String(err) };
        port.postMessage(response);
      },
    );
  });
}
