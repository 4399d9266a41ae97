// A fixed pool of worker threads that decode images; the main thread only routes jobs and results.
import * as os from 'os';
import * as path from 'path';
import { Worker } from 'worker_threads';
import type { AugmentConfig } from './augment';

/** An image decoded to 8-bit sRGB pixels, interleaved (what the loader caches between epochs). */
export interface DecodedPixels {
  data: Uint8Array;
  width: number;
  height: number;
  channels: number;
}

export interface DecodeJob {
  path: string;
  /** The file's pixels from an earlier decode: the worker skips reading and decoding the file. */
  pixels?: DecodedPixels;
  /** Send the decoded pixels back with the result (the loader caches them). */
  returnPixels?: boolean;
  imgSize: number;
  /** true: RandomResizedCrop + flip replayed from `uniforms`; false: resize + centre crop. */
  train: boolean;
  /** Random numbers drawn in the main thread (TRAIN_UNIFORMS_PER_SAMPLE of them) for a training job. */
  uniforms?: Float64Array;
  scale: [number, number];
  ratio: [number, number];
  cropPct: number;
  /** Training only: ColorJitter strength applied to the whole image before the crop (0 or absent: none). */
  colorJitter?: number;
  /** Training only: flip, RandAugment and RandomErasing replayed from the uniforms after the crop's (and jitter's). */
  augment?: AugmentConfig;
}

export interface DecodeRequest extends DecodeJob {
  id: number;
}

/**
 * ok: CHW float32, 3 x imgSize x imgSize, ImageNet-normalised (and the decoded pixels when the job asked for them).
 * Not ok: the image could not be decoded.
 */
export type DecodeResult = { ok: true; data: Float32Array; pixels?: DecodedPixels } | { ok: false; error: string };

export type DecodeResponse = DecodeResult & { id: number };

interface PendingJob {
  resolve: (result: DecodeResult) => void;
  reject: (error: Error) => void;
}

interface PoolWorker {
  worker: Worker;
  pending: Map<number, PendingJob>;
}

export function defaultWorkerCount(): number {
  return Math.max(1, os.availableParallelism());
}

export class DecodePool {
  private readonly workers: PoolWorker[] = [];
  private nextId = 0;
  private failure: Error | null = null;
  private closed = false;

  constructor(size: number = defaultWorkerCount()) {
    if (!Number.isInteger(size) || size < 1) throw new Error(`decode pool size must be a positive integer, got ${size}`);
    const script = path.join(__dirname, 'decode_worker.js');
    for (let i = 0; i < size; i++) {
      const entry: PoolWorker = { worker: new Worker(script), pending: new Map() };
      entry.worker.on('message', (msg: DecodeResponse) => this.onMessage(entry, msg));
      entry.worker.on('error', (err) => this.onWorkerDeath(entry, err));
      entry.worker.on('exit', (code) => {
        if (!this.closed) this.onWorkerDeath(entry, new Error(`decode worker exited unexpectedly (code ${code})`));
      });
      entry.worker.unref(); // idle workers must not keep the process alive
      this.workers.push(entry);
    }
  }

  get size(): number {
    return this.workers.length;
  }

  /** Resolves with the decoded image or a decode failure; rejects only if the pool itself broke or closed. */
  decode(job: DecodeJob): Promise<DecodeResult> {
    if (this.closed) return Promise.reject(new Error('decode pool is closed'));
    if (this.failure) return Promise.reject(this.failure);
    // least busy worker; ties go to the lowest index
    let target = this.workers[0];
    for (const w of this.workers) if (w.pending.size < target.pending.size) target = w;
    const id = this.nextId++;
    return new Promise<DecodeResult>((resolve, reject) => {
      if (target.pending.size === 0) target.worker.ref();
      target.pending.set(id, { resolve, reject });
      const request: DecodeRequest = { ...job, id };
      target.worker.postMessage(request);
    });
  }

  private onMessage(entry: PoolWorker, msg: DecodeResponse): void {
    const job = entry.pending.get(msg.id);
    if (!job) return;
    entry.pending.delete(msg.id);
    if (entry.pending.size === 0) entry.worker.unref();
    const { id: _id, ...result } = msg;
    job.resolve(result as DecodeResult);
  }

  private onWorkerDeath(entry: PoolWorker, err: Error): void {
    this.failure = this.failure ?? err;
    for (const job of entry.pending.values()) job.reject(err);
    entry.pending.clear();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const err = new Error('decode pool is closed');
    for (const entry of this.workers) {
      for (const job of entry.pending.values()) job.reject(err);
      entry.pending.clear();
    }
    await Promise.all(this.workers.map((w) => w.worker.terminate()));
  }
}
