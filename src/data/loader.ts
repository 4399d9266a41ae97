// Batches of decoded, augmented images from a worker pool. All random choices (order, crops, flips)
// are drawn here in the main thread from seed + epoch, so results do not depend on worker timing.
import { DecodePool, DecodeResult, defaultWorkerCount, type DecodedPixels } from './decode_pool';
import type { ImageSample } from './image_folder';
import { Mulberry32, UniformRng, mixSeed, shuffleInPlace } from './rng';
import { DEFAULT_CROP_PCT, TRAIN_UNIFORMS_PER_SAMPLE } from './transforms';
import { augmentUniforms, type AugmentConfig } from './augment';
import { COLOR_JITTER_UNIFORMS } from './augment/color_jitter';

export interface BatchLoaderOptions {
  samples: ImageSample[];
  batchSize: number;
  imgSize: number;
  /** true: RandomResizedCrop + horizontal flip; false: resize + centre crop. */
  train: boolean;
  seed?: number;
  /** Default: same as `train`. */
  shuffle?: boolean;
  /** Drop a last, incomplete batch. Default: same as `train`. */
  dropLast?: boolean;
  /** Batches being decoded ahead of the consumer. Default 3. */
  prefetch?: number;
  /** Decode worker threads. Default: os.availableParallelism(). */
  workers?: number;
  /** RandomResizedCrop area range. Default [0.2, 1] (the iTPN pre-training setting). */
  scale?: [number, number];
  ratio?: [number, number];
  /** Eval centre-crop fraction: resize the shorter side to imgSize / cropPct. Default 0.875. */
  cropPct?: number;
  /** Training only: ColorJitter(v, v, v) on the whole image before the crop (the CLIP pre-training transform). */
  colorJitter?: number;
  /** Training only: RandAugment and RandomErasing after the crop and flip (fine-tuning). Default: none. */
  augment?: AugmentConfig;
  /** Where the one-line warning about an unreadable image goes. Default: stderr. */
  warn?: (message: string) => void;
  /**
   * MiB of decoded pixels kept between epochs (files decoded once, then only cropped and resized; the batches are
   * the same either way). Filled in first-decoded order until full. Default 0 (off: a single pass gains nothing);
   * the training loops pass DEFAULT_DECODE_CACHE_MIB.
   */
  decodeCacheMiB?: number;
}

/** The decoded-image cache of the multi-epoch loops (pretrain, finetune) unless the user sets --decode-cache. */
export const DEFAULT_DECODE_CACHE_MIB = 512;

export interface Batch {
  /** batchSize x 3 x imgSize x imgSize, ImageNet-normalised. */
  images: Float32Array;
  labels: Int32Array;
  paths: string[];
  batchSize: number;
}

/** Sub-streams of the seed: separate streams keep the sample order and the augmentation independent. */
const ORDER_STREAM = 1;
const AUGMENT_STREAM = 2;

export class BatchLoader {
  readonly samples: readonly ImageSample[];
  readonly batchSize: number;
  readonly imgSize: number;
  readonly train: boolean;
  readonly seed: number;
  readonly shuffle: boolean;
  readonly dropLast: boolean;
  readonly prefetch: number;
  /** Files that could not be decoded, each listed once; they are skipped in every epoch. */
  readonly skipped: string[] = [];
  private readonly skippedSet = new Set<string>();
  private readonly scale: [number, number];
  private readonly ratio: [number, number];
  private readonly cropPct: number;
  private readonly augment: AugmentConfig | undefined;
  private readonly colorJitter: number;
  private readonly warn: (message: string) => void;
  private readonly pool: DecodePool;
  private readonly pixelCache = new Map<string, DecodedPixels>();
  private readonly cacheBudget: number;
  private cacheBytes = 0;

  constructor(opts: BatchLoaderOptions) {
    if (opts.samples.length === 0) throw new Error('BatchLoader: no samples');
    for (const [name, value] of [['batchSize', opts.batchSize], ['imgSize', opts.imgSize]] as const) {
      if (!Number.isInteger(value) || value < 1) throw new Error(`BatchLoader: ${name} must be a positive integer, got ${value}`);
    }
    this.samples = opts.samples;
    this.batchSize = opts.batchSize;
    this.imgSize = opts.imgSize;
    this.train = opts.train;
    this.seed = opts.seed ?? 0;
    this.shuffle = opts.shuffle ?? opts.train;
    this.dropLast = opts.dropLast ?? opts.train;
    this.prefetch = Math.max(1, Math.floor(opts.prefetch ?? 3));
    this.scale = opts.scale ?? [0.2, 1];
    this.ratio = opts.ratio ?? [3 / 4, 4 / 3];
    this.cropPct = opts.cropPct ?? DEFAULT_CROP_PCT;
    this.augment = opts.train ? opts.augment : undefined;
    this.colorJitter = opts.train ? opts.colorJitter ?? 0 : 0;
    if (!(this.colorJitter >= 0)) throw new Error(`BatchLoader: colorJitter must be >= 0, got ${opts.colorJitter}`);
    this.warn = opts.warn ?? ((message) => process.stderr.write(message + '\n'));
    const mib = opts.decodeCacheMiB ?? 0;
    if (!(mib >= 0)) throw new Error(`BatchLoader: decodeCacheMiB must be >= 0, got ${mib}`);
    this.cacheBudget = mib * 1024 * 1024;
    this.pool = new DecodePool(opts.workers ?? defaultWorkerCount());
  }

  /** Bytes of decoded pixels held for later epochs. */
  get decodeCacheBytes(): number {
    return this.cacheBytes;
  }

  /** Batches per epoch if no image is skipped. */
  get batchesPerEpoch(): number {
    const n = this.samples.length;
    return this.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
  }

  /** Sample order of one epoch (indices into `samples`). */
  epochOrder(epochIndex: number): number[] {
    const order = Array.from(this.samples.keys());
    if (this.shuffle) shuffleInPlace(order, new Mulberry32(mixSeed(this.seed, epochIndex, ORDER_STREAM)));
    return order;
  }

  /**
   * Yields the batches of one epoch. Unreadable images are skipped and replaced by the next samples,
   * so every batch (except possibly the last when dropLast is false) has batchSize images.
   */
  async *epoch(epochIndex: number): AsyncGenerator<Batch> {
    const order = this.epochOrder(epochIndex);
    const augmentRng = new Mulberry32(mixSeed(this.seed, epochIndex, AUGMENT_STREAM));
    const window = this.prefetch * this.batchSize;
    const results = new Map<number, Promise<DecodeResult>>();
    const uniformsPerSample = TRAIN_UNIFORMS_PER_SAMPLE + (this.colorJitter > 0 ? COLOR_JITTER_UNIFORMS : 0) +
      (this.augment ? augmentUniforms(this.augment) : 0);
    let issued = 0;
    const issueUpTo = (limit: number): void => {
      for (; issued < Math.min(limit, order.length); issued++) {
        // drawn for every position, even known-bad files, so the stream never depends on history
        const uniforms = this.train ? drawUniforms(augmentRng, uniformsPerSample) : undefined;
        const sample = this.samples[order[issued]];
        let result: Promise<DecodeResult>;
        if (this.skippedSet.has(sample.path)) {
          result = Promise.resolve({ ok: false, error: 'skipped before' });
        } else {
          const cached = this.pixelCache.get(sample.path);
          result = this.pool.decode({
            path: sample.path,
            ...(cached ? { pixels: cached } : { returnPixels: this.cacheBytes < this.cacheBudget }),
            imgSize: this.imgSize,
            train: this.train,
            uniforms,
            scale: this.scale,
            ratio: this.ratio,
            cropPct: this.cropPct,
            ...(this.colorJitter > 0 ? { colorJitter: this.colorJitter } : {}),
            augment: this.augment,
          });
          result.catch(() => undefined); // consumed below; this only stops an early exit leaving it unhandled
        }
        results.set(issued, result);
      }
    };

    const imageSize = 3 * this.imgSize * this.imgSize;
    let images = new Float32Array(this.batchSize * imageSize);
    let labels = new Int32Array(this.batchSize);
    let paths: string[] = [];
    try {
      for (let position = 0; position < order.length; position++) {
        issueUpTo(position + window);
        const result = await results.get(position)!;
        results.delete(position);
        const sample = this.samples[order[position]];
        if (!result.ok) {
          this.recordSkip(sample.path, result.error);
          continue;
        }
        if (result.pixels) this.cachePixels(sample.path, result.pixels);
        const slot = paths.length;
        images.set(result.data, slot * imageSize);
        labels[slot] = sample.label;
        paths.push(sample.path);
        if (paths.length === this.batchSize) {
          yield { images, labels, paths, batchSize: this.batchSize };
          images = new Float32Array(this.batchSize * imageSize);
          labels = new Int32Array(this.batchSize);
          paths = [];
        }
      }
      if (paths.length > 0 && !this.dropLast) {
        const n = paths.length;
        yield { images: images.slice(0, n * imageSize), labels: labels.slice(0, n), paths, batchSize: n };
      }
    } finally {
      results.clear();
    }
  }

  private cachePixels(file: string, pixels: DecodedPixels): void {
    const bytes = pixels.data.byteLength;
    if (this.pixelCache.has(file) || this.cacheBytes + bytes > this.cacheBudget) return;
    this.pixelCache.set(file, pixels);
    this.cacheBytes += bytes;
  }

  private recordSkip(file: string, reason: string): void {
    if (this.skippedSet.has(file)) return;
    this.skippedSet.add(file);
    this.skipped.push(file);
    this.warn(`warning: skipping unreadable image ${file}: ${reason.replace(/\s+/g, ' ')}`);
  }

  /** Stops the decode workers; the loader cannot be used afterwards. */
  async close(): Promise<void> {
    await this.pool.close();
  }
}

function drawUniforms(rng: UniformRng, count: number): Float64Array {
  const values = new Float64Array(count);
  for (let i = 0; i < count; i++) values[i] = rng.uniform();
  return values;
}
