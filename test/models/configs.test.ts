// Model configurations are checked when resolved, so a bad setting fails before a run starts: the input size must be
// a whole number of patches, and the mask ratio must hide at least one patch (the pixel loss averages over them).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { taskConfig } from '../../src/models/itpn/factory';

test('taskConfig refuses an input size that is not whole patches and a mask ratio that masks nothing', () => {
  assert.throws(() => taskConfig('itpn_tiny', 'pixel', { img_size: 100 }), /img_size 100 is not a multiple of patch_size 16/);
  assert.throws(() => taskConfig('itpn_tiny', 'pixel', { img_size: 32, mask_ratio: 0 }), /mask_ratio 0 masks none of the 4 patches of a 32px input/);
  assert.throws(() => taskConfig('itpn_tiny', 'pixel', { img_size: 32, mask_ratio: 1.5 }), /mask_ratio 1\.5 .* must be in \(0, 1\]/);
  assert.throws(() => taskConfig('itpn_tiny', 'pixel', { img_size: 32, mask_ratio: NaN }), /mask_ratio NaN/);
  for (const r of [1e-6, 0.75, 1]) assert.equal(taskConfig('itpn_tiny', 'pixel', { img_size: 32, mask_ratio: r }).mask_ratio, r);
});
