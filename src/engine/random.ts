// A seeded, serialisable random number generator (xoshiro128**, seeded through splitmix32).
// Every random choice in training (init, masking noise, augmentation, drop-path) draws from an instance passed in
// explicitly, so a run is reproducible and resumable from the saved state.

export class Rng {
  private s: Uint32Array;
  private spareNormal: number | null = null;

  constructor(seed: number) {
    this.s = new Uint32Array(4);
    let x = seed >>> 0;
    for (let i = 0; i < 4; i++) {
      // splitmix32
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      this.s[i] = (z ^ (z >>> 16)) >>> 0;
    }
  }

  /** Next 32 random bits as an unsigned integer. */
  nextUint32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  uniform(): number {
    const hi = this.nextUint32() >>> 5, lo = this.nextUint32() >>> 6;
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Integer uniform in [lo, hi] inclusive. */
  randint(lo: number, hi: number): number {
    return lo + Math.floor(this.uniform() * (hi - lo + 1));
  }

  normal(mean = 0, std = 1): number {
    if (this.spareNormal !== null) {
      const v = this.spareNormal;
      this.spareNormal = null;
      return mean + std * v;
    }
    let u = 0;
    while (u === 0) u = this.uniform();
    const v = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spareNormal = r * Math.sin(2 * Math.PI * v);
    return mean + std * r * Math.cos(2 * Math.PI * v);
  }

  /** Normal(mean, std) conditioned on [a, b] (absolute bounds, as timm's trunc_normal_). */
  truncNormal(mean: number, std: number, a: number, b: number): number {
    for (;;) {
      const v = this.normal(mean, std);
      if (v >= a && v <= b) return v;
    }
  }

  bernoulli(p: number): boolean {
    return this.uniform() < p;
  }

  /** A uniformly random permutation of 0..n-1 (Fisher–Yates). */
  permutation(n: number): Int32Array {
    const a = new Int32Array(n);
    for (let i = 0; i < n; i++) a[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(this.uniform() * (i + 1));
      const t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
    return a;
  }

  fillUniform(a: Float32Array | Float64Array, lo = 0, hi = 1): void {
    for (let i = 0; i < a.length; i++) a[i] = lo + (hi - lo) * this.uniform();
  }

  fillNormal(a: Float32Array | Float64Array, mean = 0, std = 1): void {
    for (let i = 0; i < a.length; i++) a[i] = this.normal(mean, std);
  }

  fillTruncNormal(a: Float32Array | Float64Array, mean: number, std: number, lo: number, hi: number): void {
    for (let i = 0; i < a.length; i++) a[i] = this.truncNormal(mean, std, lo, hi);
  }

  /** A new generator whose stream is derived from this one (for workers or sub-tasks). */
  fork(): Rng {
    return new Rng(this.nextUint32());
  }

  getState(): number[] {
    return [...this.s, this.spareNormal === null ? NaN : this.spareNormal];
  }

  setState(state: number[]): void {
    this.s.set(state.slice(0, 4));
    this.spareNormal = Number.isNaN(state[4]) || state[4] === undefined || state[4] === null ? null : state[4];
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
