// The PIL image operations that timm's RandAugment calls (timm/data/auto_augment.py → PIL.ImageOps,
// PIL.ImageEnhance, Image.transform), on interleaved 8-bit RGB. Each follows PIL's arithmetic: lookup tables for
// the point ops, Image.blend's truncation for the enhancers, and the affine transform's pixel-centre mapping with
// PIL's bicubic sampler (a = −1 cubic, clamped taps, out-of-image points take the fill colour).

/** Interleaved RGB, 3 bytes per pixel, row-major. */
export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
}

export type Rgb = readonly [number, number, number];

function mapLut(img: RgbImage, lut: (v: number, channel: number) => number): RgbImage {
  const tables = [0, 1, 2].map((c) => Uint8Array.from({ length: 256 }, (_, v) => lut(v, c)));
  const out = new Uint8Array(img.data.length);
  for (let i = 0; i < out.length; i++) out[i] = tables[i % 3][img.data[i]];
  return { data: out, width: img.width, height: img.height };
}

function histograms(img: RgbImage): Int32Array[] {
  const h = [new Int32Array(256), new Int32Array(256), new Int32Array(256)];
  for (let i = 0; i < img.data.length; i++) h[i % 3][img.data[i]]++;
  return h;
}

export function invert(img: RgbImage): RgbImage {
  return mapLut(img, (v) => 255 - v);
}

/** ImageOps.posterize: keep the `bits` most significant bits (0 bits gives black). */
export function posterize(img: RgbImage, bits: number): RgbImage {
  if (bits >= 8) return img;
  const mask = ~((1 << (8 - bits)) - 1) & 0xff;
  return mapLut(img, (v) => v & mask);
}

/** ImageOps.solarize: invert values at or above the threshold. */
export function solarize(img: RgbImage, threshold: number): RgbImage {
  return mapLut(img, (v) => (v < threshold ? v : 255 - v));
}

/** timm solarize_add: add to values below the threshold, saturating at 255. */
export function solarizeAdd(img: RgbImage, add: number, threshold = 128): RgbImage {
  return mapLut(img, (v) => (v < threshold ? Math.min(255, v + add) : v));
}

/** ImageOps.autocontrast (cutoff 0): stretch each channel's [min, max] to [0, 255]. */
export function autoContrast(img: RgbImage): RgbImage {
  const luts = histograms(img).map((h) => {
    let lo = 0, hi = 255;
    while (lo < 256 && h[lo] === 0) lo++;
    while (hi >= 0 && h[hi] === 0) hi--;
    if (hi <= lo) return (v: number) => v;
    const scale = 255 / (hi - lo), offset = -lo * scale;
    return (v: number) => Math.min(255, Math.max(0, Math.trunc(v * scale + offset)));
  });
  return mapLut(img, (v, c) => luts[c](v));
}

/** ImageOps.equalize: per channel, the cumulative histogram (without the last used level) spread over 0..255. */
export function equalize(img: RgbImage): RgbImage {
  const luts = histograms(img).map((h) => {
    const used = [...h].filter((n) => n > 0);
    const identity = (v: number) => v;
    if (used.length <= 1) return identity;
    const step = Math.floor((used.reduce((a, b) => a + b, 0) - used[used.length - 1]) / 255);
    if (step === 0) return identity;
    const table = new Uint8Array(256);
    let n = Math.floor(step / 2);
    for (let i = 0; i < 256; i++) {
      table[i] = Math.min(255, Math.floor(n / step));
      n += h[i];
    }
    return (v: number) => table[v];
  });
  return mapLut(img, (v, c) => luts[c](v));
}

/** Image.blend(degenerate, img, factor): degenerate + factor·(img − degenerate), clipped, truncated to 8 bits. */
function blend(degenerate: (i: number) => number, img: RgbImage, factor: number): RgbImage {
  const out = new Uint8Array(img.data.length);
  for (let i = 0; i < out.length; i++) {
    const d = degenerate(i);
    const v = d + factor * (img.data[i] - d);
    out[i] = v <= 0 ? 0 : v >= 255 ? 255 : Math.trunc(v);
  }
  return { data: out, width: img.width, height: img.height };
}

/** PIL's "L" conversion: ITU-R 601-2 luma with 16-bit fixed-point rounding. */
function luma(data: Uint8Array, p: number): number {
  return (data[p] * 19595 + data[p + 1] * 38470 + data[p + 2] * 7471 + 0x8000) >> 16;
}

/** ImageEnhance.Color: blend with the grey image. */
export function color(img: RgbImage, factor: number): RgbImage {
  return blend((i) => luma(img.data, i - (i % 3)), img, factor);
}

/** ImageEnhance.Contrast: blend with a flat image at the (rounded) mean grey level. */
export function contrast(img: RgbImage, factor: number): RgbImage {
  let total = 0;
  for (let p = 0; p < img.data.length; p += 3) total += luma(img.data, p);
  const mean = Math.trunc(total / (img.width * img.height) + 0.5);
  return blend(() => mean, img, factor);
}

/** ImageEnhance.Brightness: blend with black. */
export function brightness(img: RgbImage, factor: number): RgbImage {
  return blend(() => 0, img, factor);
}

/** ImageEnhance.Sharpness: blend with ImageFilter.SMOOTH (3×3 kernel [1 1 1; 1 5 1; 1 1 1]/13, border kept). */
export function sharpness(img: RgbImage, factor: number): RgbImage {
  const { data, width: W, height: H } = img;
  const smooth = Uint8Array.from(data);
  for (let y = 1; y < H - 1; y++) {
    for (let x = 1; x < W - 1; x++) {
      for (let c = 0; c < 3; c++) {
        let s = 4 * data[(y * W + x) * 3 + c];
        for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) s += data[((y + dy) * W + x + dx) * 3 + c];
        smooth[(y * W + x) * 3 + c] = Math.min(255, Math.round(s / 13));
      }
    }
  }
  return blend((i) => smooth[i], img, factor);
}

/** PIL's cubic through four taps at fractional position d (Geometry.c BICUBIC). */
function cubic(v1: number, v2: number, v3: number, v4: number, d: number): number {
  const p2 = v3 - v1, p3 = 2 * (v1 - v2) + v3 - v4, p4 = -v1 + v2 - v3 + v4;
  return v2 + d * (p2 + d * (p3 + d * p4));
}

/**
 * Image.transform(size, AFFINE, (a, b, c, d, e, f), BICUBIC, fillcolor): output pixel (x, y) samples the input at
 * (a·(x+½) + b·(y+½) + c, d·(x+½) + e·(y+½) + f); points outside the input get `fill`.
 */
export function affine(img: RgbImage, m: readonly number[], fill: Rgb): RgbImage {
  const { data, width: W, height: H } = img;
  const out = new Uint8Array(data.length);
  const clampX = (x: number) => (x < 0 ? 0 : x >= W ? W - 1 : x);
  const clampY = (y: number) => (y < 0 ? 0 : y >= H ? H - 1 : y);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const o = (y * W + x) * 3;
      const xin = m[0] * (x + 0.5) + m[1] * (y + 0.5) + m[2];
      const yin = m[3] * (x + 0.5) + m[4] * (y + 0.5) + m[5];
      if (xin < 0 || xin >= W || yin < 0 || yin >= H) {
        out[o] = fill[0]; out[o + 1] = fill[1]; out[o + 2] = fill[2];
        continue;
      }
      const x0 = Math.floor(xin - 0.5), y0 = Math.floor(yin - 0.5);
      const dx = xin - 0.5 - x0, dy = yin - 0.5 - y0;
      const c0 = clampX(x0 - 1) * 3, c1 = clampX(x0) * 3, c2 = clampX(x0 + 1) * 3, c3 = clampX(x0 + 2) * 3;
      const r0 = clampY(y0 - 1) * W * 3, r1 = clampY(y0) * W * 3, r2 = clampY(y0 + 1) * W * 3, r3 = clampY(y0 + 2) * W * 3;
      for (let c = 0; c < 3; c++) {
        const row = (r: number) => cubic(data[r + c0 + c], data[r + c1 + c], data[r + c2 + c], data[r + c3 + c], dx);
        const v = cubic(row(r0), row(r1), row(r2), row(r3), dy);
        out[o + c] = v <= 0 ? 0 : v >= 255 ? 255 : Math.trunc(v);
      }
    }
  }
  return { data: out, width: W, height: H };
}

/** Image.rotate(degrees) about the centre, same size, counter-clockwise for positive angles. */
export function rotate(img: RgbImage, degrees: number, fill: Rgb): RgbImage {
  const t = (-degrees * Math.PI) / 180;
  const cx = img.width / 2, cy = img.height / 2;
  // PIL rounds the matrix to 15 decimals, so multiples of 90° map pixel centres exactly
  const r15 = (v: number) => Math.round(v * 1e15) / 1e15 + 0;
  const [a, b, d, e] = [r15(Math.cos(t)), r15(Math.sin(t)), r15(-Math.sin(t)), r15(Math.cos(t))];
  return affine(img, [a, b, a * -cx + b * -cy + cx, d, e, d * -cx + e * -cy + cy], fill);
}

export const shearX = (img: RgbImage, f: number, fill: Rgb) => affine(img, [1, f, 0, 0, 1, 0], fill);
export const shearY = (img: RgbImage, f: number, fill: Rgb) => affine(img, [1, 0, 0, f, 1, 0], fill);
/** translate_x_rel: shift by pct of the width (the content moves left for positive pct). */
export const translateXRel = (img: RgbImage, pct: number, fill: Rgb) => affine(img, [1, 0, pct * img.width, 0, 1, 0], fill);
export const translateYRel = (img: RgbImage, pct: number, fill: Rgb) => affine(img, [1, 0, 0, 0, 1, pct * img.height], fill);

export function flipHorizontal(img: RgbImage): RgbImage {
  const { data, width: W, height: H } = img;
  const out = new Uint8Array(data.length);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const s = (y * W + (W - 1 - x)) * 3, o = (y * W + x) * 3;
      out[o] = data[s]; out[o + 1] = data[s + 1]; out[o + 2] = data[s + 2];
    }
  }
  return { data: out, width: W, height: H };
}

/** Interleaved 1, 3 or 4-channel bytes as RGB (grey replicated, alpha dropped). */
export function toRgb(pixels: Uint8Array, width: number, height: number, channels: number): RgbImage {
  if (channels === 3) return { data: pixels, width, height };
  const out = new Uint8Array(width * height * 3);
  for (let p = 0; p < width * height; p++) {
    const s = p * channels;
    out[p * 3] = pixels[s];
    out[p * 3 + 1] = channels >= 3 ? pixels[s + 1] : pixels[s];
    out[p * 3 + 2] = channels >= 3 ? pixels[s + 2] : pixels[s];
  }
  return { data: out, width, height };
}
