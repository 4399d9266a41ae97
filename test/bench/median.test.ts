// The one median the benchmarks use (ours and the report's rounds); PyTorch's side takes statistics.median, which
// also averages the two middle values of an even count.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { median } from '../../src/bench/median';

test('median of odd and even counts, unsorted input left as given', () => {
  const xs = [5, 1, 4, 2];
  assert.equal(median(xs), 3);
  assert.deepEqual(xs, [5, 1, 4, 2]);
  assert.equal(median([3, 9, 1]), 3);
  assert.equal(median([7]), 7);
  assert.throws(() => median([]), /no values/);
});
