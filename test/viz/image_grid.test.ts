import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import sharp from 'sharp';
import { IMAGENET_MEAN, IMAGENET_STD } from '../../src/data/transforms';
import { imageGridSize, writeImageGrid } from '../../src/viz/image_grid';
import { writeRgbPng } from '../../src/viz/png';

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'itpn-grid-'));
after(() => fs.rmSync(tmpRoot, { recursive: true, force: true }));

/** A normalised CHW image of one colour (values 0..1 per channel). */
function solid(width: number, height: number, rgb: [number, number, number]): Float32Array {
  const out = new Float32Array(3 * width * height);
  for (let c = 0; c < 3; c++) out.fill((rgb[c] - IMAGENET_MEAN[c]) / IMAGENET_STD[c], c * width * height, (c + 1) * width * height);
  return out;
}

describe('writeRgbPng', () => {
  it('writes the pixels unchanged', async () => {
    const rgb = Uint8Array.from({ length: 4 * 3 * 3 }, (_, i) => (i * 37) % 256);
    const file = path.join(tmpRoot, 'nested', 'small.png');
    await writeRgbPng(file, rgb, 4, 3);
    const { data, info } = await sharp(file).raw().toBuffer({ resolveWithObject: true });
    assert.deepEqual([info.width, info.height, info.channels], [4, 3, 3]);
    assert.deepEqual(new Uint8Array(data), rgb);
  });
});

describe('writeImageGrid', () => {
  it('tiles un-normalised cells with gaps and a header row', async () => {
    const opts = { channels: 3 as const, height: 16, width: 20, cols: 3, gap: 2, labels: ['original', 'masked', 'reconstruction'] };
    const cells = [solid(20, 16, [1, 0, 0]), solid(20, 16, [0, 1, 0]), solid(20, 16, [0, 0, 1]), solid(20, 16, [2, -1, 0.6]), solid(20, 16, [0, 0, 0])];
    const file = path.join(tmpRoot, 'grid.png');
    await writeImageGrid(file, cells, opts);
    const size = imageGridSize(cells.length, opts);
    const { data, info } = await sharp(file).raw().toBuffer({ resolveWithObject: true });
    assert.equal(info.width, 3 * 20 + 4 * 2);
    assert.equal(info.height, size.headerHeight + 2 * 16 + 3 * 2);
    assert.ok(size.headerHeight > 0);
    assert.equal(info.channels, 3);
    const pixel = (x: number, y: number) => Array.from(data.subarray((y * info.width + x) * 3, (y * info.width + x) * 3 + 3));
    const cellCentre = (i: number) => [2 + (i % 3) * 22 + 10, size.headerHeight + 2 + Math.floor(i / 3) * 18 + 8] as const;
    assert.deepEqual(pixel(...cellCentre(0)), [255, 0, 0]);
    assert.deepEqual(pixel(...cellCentre(2)), [0, 0, 255]);
    assert.deepEqual(pixel(...cellCentre(3)), [255, 0, 153], 'out-of-range values are clamped');
    assert.deepEqual(pixel(1, size.headerHeight + 1), [255, 255, 255], 'gap is white');
    assert.deepEqual(pixel(info.width - 5, info.height - 5), [255, 255, 255], 'empty sixth cell is white');
    // the header holds dark text pixels
    let dark = 0;
    for (let y = 0; y < size.headerHeight; y++) for (let x = 0; x < info.width; x++) if (pixel(x, y)[0] < 128) dark++;
    assert.ok(dark > 10, 'header text drawn');
  });

  it('rejects cells of the wrong size', async () => {
    await assert.rejects(
      writeImageGrid(path.join(tmpRoot, 'bad.png'), [new Float32Array(5)], { channels: 3, height: 4, width: 4, cols: 1 }),
      /cell 0/,
    );
  });
});
