// Small seeded RNG for the data pipeline only (shuffling and augmentation draws).
// The engine keeps its own generator; this one just has to be fast and reproducible.

/** Anything that yields uniform numbers in [0, 1). */
export interface UniformRng {
  uniform(): number;
}

/** mulberry32: 32-bit state, good enough statistical quality for shuffles and crops. */
export class Mulberry32 implements UniformRng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  uniform(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
}

/** Mixes several integers into one 32-bit seed so (seed, epoch, stream) pairs give unrelated streams. */
export function mixSeed(...parts: number[]): number {
  let h = 0x811c9dc5;
  for (const part of parts) {
    // splitmix-style avalanche of each part before folding it in
    let x = (part >>> 0) ^ Math.floor(part / 4294967296);
    x = Math.imul(x ^ (x >>> 16), 0x7feb352d);
    x = Math.imul(x ^ (x >>> 15), 0x846ca68b);
    x ^= x >>> 16;
    h = Math.imul(h ^ x, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** Plays back numbers drawn earlier (e.g. in the main thread), so a worker repeats exactly the same choices. */
export class ReplayRng implements UniformRng {
  private next = 0;

  constructor(private readonly values: ArrayLike<number>) {}

  uniform(): number {
    if (this.next >= this.values.length) {
      throw new Error(`ReplayRng: all ${this.values.length} pre-drawn values used`);
    }
    return this.values[this.next++];
  }
}

/** In-place Fisher-Yates shuffle driven by the given RNG. */
export function shuffleInPlace<T>(items: T[], rng: UniformRng): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(rng.uniform() * (i + 1));
    const tmp = items[i];
    items[i] = items[j];
    items[j] = tmp;
  }
  return items;
}
