// Writing pixels and SVG drawings to PNG files with sharp.
import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';

function ensureParentFolder(file: string): void {
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
}

/** Writes interleaved 8-bit RGB (HWC) pixels as a PNG. */
export async function writeRgbPng(file: string, rgb: Uint8Array, width: number, height: number): Promise<void> {
  if (rgb.length !== width * height * 3) {
    throw new Error(`writeRgbPng: ${rgb.length} bytes is not ${width}x${height}x3`);
  }
  ensureParentFolder(file);
  await sharp(rgb, { raw: { width, height, channels: 3 } }).png().toFile(file);
}

/** Renders a complete SVG document to a PNG of the SVG's own pixel size. */
export async function writeSvgPng(file: string, svg: string): Promise<void> {
  ensureParentFolder(file);
  // flatten on white: an SVG without a background would otherwise be transparent
  await sharp(Buffer.from(svg)).flatten({ background: '#ffffff' }).png().toFile(file);
}
