import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import sharp from 'sharp';
import { writeConfusionMatrix } from '../../src/viz/confusion_matrix';
import { linearAxis, logAxis, writeLinePlot } from '../../src/viz/plot';

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'itpn-plot-'));
after(() => fs.rmSync(tmpRoot, { recursive: true, force: true }));

describe('writeLinePlot', () => {
  it('writes a PNG of the default size with coloured lines', async () => {
    const x = [0, 1, 2, 3, 4, 5];
    const file = path.join(tmpRoot, 'loss.png');
    await writeLinePlot(file, [
      { name: 'train', x, y: [2, 1.5, 1.1, 0.9, 0.8, 0.75] },
      { name: 'val', x, y: [2.1, 1.7, NaN, 1.0, 0.95, 0.9] },
    ], { title: 'loss', xLabel: 'epoch', yLabel: 'loss' });
    const { data, info } = await sharp(file).raw().toBuffer({ resolveWithObject: true });
    assert.deepEqual([info.width, info.height], [800, 480]);
    let blue = 0;
    for (let i = 0; i < data.length; i += info.channels) if (data[i + 2] > 150 && data[i] < 80) blue++;
    assert.ok(blue > 100, 'first series drawn in blue');
  });

  it('handles a custom size, a log axis and empty input', async () => {
    const file = path.join(tmpRoot, 'lr.png');
    await writeLinePlot(file, [{ name: 'lr', x: [0, 1, 2, 3], y: [1e-3, 1e-4, 0, 1e-6] }], { width: 400, height: 300, logY: true });
    const meta = await sharp(file).metadata();
    assert.deepEqual([meta.width, meta.height], [400, 300]);
    const empty = path.join(tmpRoot, 'empty.png');
    await writeLinePlot(empty, []);
    assert.equal((await sharp(empty).metadata()).width, 800);
  });

  it('chooses round tick values', () => {
    assert.deepEqual(linearAxis(0.13, 0.92).ticks.map((t) => Number(t.toFixed(6))), [0, 0.2, 0.4, 0.6, 0.8, 1]);
    const axis = linearAxis(0, 50);
    assert.equal(axis.lo, 0);
    assert.equal(axis.hi, 50);
    assert.equal(axis.format(20), '20');
    const log = logAxis(3e-7, 2e-3);
    assert.equal(log.lo, 1e-7);
    assert.ok(Math.abs(log.hi - 1e-2) < 1e-18);
    assert.equal(log.format(1e-4), '1e-4');
  });
});

describe('writeConfusionMatrix', () => {
  it('writes a heat map PNG', async () => {
    const file = path.join(tmpRoot, 'cm.png');
    await writeConfusionMatrix(file, [[5, 1, 0], [2, 7, 1], [0, 0, 9]], ['tench', 'church', 'golf ball']);
    const meta = await sharp(file).metadata();
    assert.ok(meta.width! > 3 * 44 && meta.height! > 3 * 44);
    await assert.rejects(writeConfusionMatrix(file, [[1, 2]], ['a']), /square/);
  });
});
