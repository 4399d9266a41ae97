// Tiles ImageNet-normalised CHW images into one PNG, optionally with column headers
// (e.g. "original | masked | reconstruction | reconstruction + visible").
import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import { denormalizeToRgb } from '../data/transforms';
import { FONT_FAMILY, escapeXml, estimateTextWidth } from './svg';

export interface ImageGridOptions {
  /** Only 3 (RGB) is supported. */
  channels: 3;
  height: number;
  width: number;
  cols: number;
  /** One header per column, drawn above the first row. */
  labels?: string[];
  /** Pixels of white between cells and around the border. Default 2. */
  gap?: number;
}

const HEADER_FONT_SIZE = 14;
const MIN_HEADER_FONT_SIZE = 7;

/** Pixel size of the grid image for the given cell count and options. */
export function imageGridSize(cellCount: number, opts: ImageGridOptions): { width: number; height: number; headerHeight: number } {
  const gap = opts.gap ?? 2;
  const rows = Math.ceil(cellCount / opts.cols);
  const headerHeight = opts.labels && opts.labels.length > 0 ? HEADER_FONT_SIZE + 10 : 0;
  return {
    width: opts.cols * opts.width + (opts.cols + 1) * gap,
    height: headerHeight + rows * opts.height + (rows + 1) * gap,
    headerHeight,
  };
}

function headerSvg(labels: string[], opts: ImageGridOptions, totalWidth: number, headerHeight: number): string {
  const gap = opts.gap ?? 2;
  const texts = labels.slice(0, opts.cols).map((label, col) => {
    // shrink a long header so it stays inside its column
    const fits = (HEADER_FONT_SIZE * (opts.width - 4)) / Math.max(1, estimateTextWidth(label, HEADER_FONT_SIZE));
    const size = Math.max(MIN_HEADER_FONT_SIZE, Math.min(HEADER_FONT_SIZE, fits));
    const centreX = gap + col * (opts.width + gap) + opts.width / 2;
    return `<text x="${centreX}" y="${headerHeight - 7}" font-size="${size.toFixed(1)}" text-anchor="middle">${escapeXml(label)}</text>`;
  });
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${totalWidth}" height="${headerHeight}">` +
    `<g font-family="${FONT_FAMILY}" fill="#000">${texts.join('')}</g></svg>`
  );
}

/** Un-normalises, clamps and tiles the cells row by row, `cols` per row, and writes a PNG. */
export async function writeImageGrid(file: string, cells: Float32Array[], opts: ImageGridOptions): Promise<void> {
  if (opts.channels !== 3) throw new Error(`writeImageGrid: only 3-channel images are supported, got ${opts.channels}`);
  if (cells.length === 0) throw new Error('writeImageGrid: no images');
  if (!Number.isInteger(opts.cols) || opts.cols < 1) throw new Error(`writeImageGrid: cols must be a positive integer, got ${opts.cols}`);
  const cellFloats = 3 * opts.width * opts.height;
  cells.forEach((cell, i) => {
    if (cell.length !== cellFloats) throw new Error(`writeImageGrid: cell ${i} has ${cell.length} values, expected 3x${opts.height}x${opts.width}`);
  });

  const gap = opts.gap ?? 2;
  const size = imageGridSize(cells.length, opts);
  const canvas = new Uint8Array(size.width * size.height * 3).fill(255);
  cells.forEach((cell, i) => {
    const rgb = denormalizeToRgb(cell, opts.width, opts.height);
    const left = gap + (i % opts.cols) * (opts.width + gap);
    const top = size.headerHeight + gap + Math.floor(i / opts.cols) * (opts.height + gap);
    for (let y = 0; y < opts.height; y++) {
      const src = y * opts.width * 3;
      canvas.set(rgb.subarray(src, src + opts.width * 3), ((top + y) * size.width + left) * 3);
    }
  });

  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  let image = sharp(canvas, { raw: { width: size.width, height: size.height, channels: 3 } });
  if (size.headerHeight > 0) {
    const svg = headerSvg(opts.labels!, opts, size.width, size.headerHeight);
    image = image.composite([{ input: Buffer.from(svg), top: 0, left: 0 }]);
  }
  // compositing adds an alpha channel; the grid is opaque, so keep the PNG plain RGB
  await image.png().toBuffer().then((png) => sharp(png).removeAlpha().png().toFile(file));
}
