import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { displayClassNames, listClassFolders, listImageFolder, readClassNames } from '../../src/data/image_folder';

const REPO_ROOT = path.resolve(__dirname, '../../..');
const MINI = path.join(REPO_ROOT, 'data/imagenette-mini');

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'itpn-image-folder-'));
after(() => fs.rmSync(tmpRoot, { recursive: true, force: true }));

function touch(file: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, 'x');
}

describe('listImageFolder', () => {
  it('lists the shipped data set by class folder', () => {
    const { samples, classes } = listImageFolder(path.join(MINI, 'train'));
    assert.equal(classes.length, 10);
    assert.deepEqual(classes, [...classes].sort());
    assert.equal(classes[0], 'n01440764');
    assert.equal(samples.length, 800);
    for (let label = 0; label < 10; label++) assert.equal(samples.filter((s) => s.label === label).length, 80);
    for (const s of samples) assert.ok(s.path.startsWith(path.join(MINI, 'train', classes[s.label]) + path.sep));
    assert.deepEqual(listClassFolders(path.join(MINI, 'train')), classes, 'the class folders alone, in label order');
  });

  it('recurses inside classes, matches extensions case-insensitively and ignores other files', () => {
    const root = path.join(tmpRoot, 'classes');
    touch(path.join(root, 'b_cat', 'one.JPG'));
    touch(path.join(root, 'b_cat', 'deep', 'two.webp'));
    touch(path.join(root, 'b_cat', 'notes.txt'));
    touch(path.join(root, 'a_dog', 'three.Png'));
    touch(path.join(root, 'a_dog', 'four.jpeg'));
    touch(path.join(root, 'a_dog', '.hidden.jpg'));
    const { samples, classes } = listImageFolder(root);
    assert.deepEqual(classes, ['a_dog', 'b_cat']);
    assert.deepEqual(
      samples.map((s) => [path.relative(root, s.path), s.label]),
      [
        [path.join('a_dog', 'four.jpeg'), 0],
        [path.join('a_dog', 'three.Png'), 0],
        [path.join('b_cat', 'deep', 'two.webp'), 1],
        [path.join('b_cat', 'one.JPG'), 1],
      ],
    );
  });

  it('keeps label ids from a given class list', () => {
    const root = path.join(tmpRoot, 'partial');
    touch(path.join(root, 'b_cat', 'x.jpg'));
    const { samples, classes } = listImageFolder(root, { classes: ['a_dog', 'b_cat'] });
    assert.deepEqual(classes, ['a_dog', 'b_cat']);
    assert.equal(samples[0].label, 1);
    assert.throws(() => listImageFolder(root, { classes: ['a_dog'] }), /b_cat/);
  });

  it('treats a folder with images at the top as flat: label 0, classes [""]', () => {
    const root = path.join(tmpRoot, 'flat');
    touch(path.join(root, 'b.jpg'));
    touch(path.join(root, 'a.png'));
    touch(path.join(root, 'more', 'c.jpeg'));
    const { samples, classes } = listImageFolder(root);
    assert.deepEqual(classes, ['']);
    assert.deepEqual(samples.map((s) => path.relative(root, s.path)), ['a.png', 'b.jpg', path.join('more', 'c.jpeg')]);
    assert.ok(samples.every((s) => s.label === 0));
  });

  it('says so when classification is given a flat folder of images', () => {
    const root = path.join(tmpRoot, 'flat-for-classes');
    touch(path.join(root, 'a.jpg'));
    touch(path.join(root, 'b.jpg'));
    assert.throws(() => listImageFolder(root, { layout: 'classes' }),
      (err: Error) => err.message.includes(root) && /holds 2 images but no class sub-folders/.test(err.message));
    const empty = path.join(tmpRoot, 'empty-for-classes');
    fs.mkdirSync(empty);
    assert.throws(() => listImageFolder(empty, { layout: 'classes' }), /no images/);
  });

  it('throws a clear error naming the path for missing, non-folder and empty inputs', () => {
    const missing = path.join(tmpRoot, 'does-not-exist');
    assert.throws(() => listImageFolder(missing), (err: Error) => /not found/.test(err.message) && err.message.includes(missing));
    const file = path.join(tmpRoot, 'a-file.jpg');
    touch(file);
    assert.throws(() => listImageFolder(file), (err: Error) => /not a directory/.test(err.message) && err.message.includes(file));
    const empty = path.join(tmpRoot, 'empty');
    fs.mkdirSync(empty);
    assert.throws(() => listImageFolder(empty), (err: Error) => /no images/.test(err.message) && err.message.includes(empty));
    const noImages = path.join(tmpRoot, 'no-images');
    touch(path.join(noImages, 'cls', 'readme.txt'));
    assert.throws(() => listImageFolder(noImages), (err: Error) => err.message.includes(noImages));
  });
});

describe('readClassNames', () => {
  it('reads classes.tsv from the parent of a split folder', () => {
    const names = readClassNames(path.join(MINI, 'train'));
    assert.equal(names.get('n01440764'), 'tench');
    assert.equal(names.size, 10);
    assert.deepEqual(displayClassNames(['n01440764', 'unknown'], names), ['tench', 'unknown']);
  });

  it('returns an empty map without classes.tsv', () => {
    assert.equal(readClassNames(path.join(tmpRoot, 'flat')).size, 0);
  });
});
