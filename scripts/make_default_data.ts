// Builds the small data set shipped with the repository (data/imagenette-mini) from Imagenette:
// the first N (80) train and M (30) val images per class by sorted file name, shorter side resized to 128
// (bicubic), JPEG quality 85. Deterministic: running it twice gives the same files.
//
// usage: node dist/scripts/make_default_data.js [--src DIR] [--dst DIR] [--train N] [--val M] [--short-side S]
import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';

interface MakeDataOptions {
  src: string;
  dst: string;
  trainPerClass: number;
  valPerClass: number;
  shortSide: number;
  quality: number;
}

const REPO_ROOT = path.resolve(__dirname, '../..'); // dist/scripts -> repository root

function parseArgs(argv: string[]): MakeDataOptions {
  const opts: MakeDataOptions = {
    src: '/work/shared/data/imagenette-224',
    dst: path.join(REPO_ROOT, 'data/imagenette-mini'),
    trainPerClass: 80,
    valPerClass: 30,
    shortSide: 128,
    quality: 85,
  };
  for (let i = 0; i < argv.length; i += 2) {
    const value = argv[i + 1];
    if (value === undefined) throw new Error(`missing value after ${argv[i]}`);
    switch (argv[i]) {
      case '--src': opts.src = path.resolve(value); break;
      case '--dst': opts.dst = path.resolve(value); break;
      case '--train': opts.trainPerClass = Number(value); break;
      case '--val': opts.valPerClass = Number(value); break;
      case '--short-side': opts.shortSide = Number(value); break;
      case '--quality': opts.quality = Number(value); break;
      default: throw new Error(`unknown option ${argv[i]}`);
    }
  }
  return opts;
}

const byCodeUnit = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const isImage = (name: string): boolean => /\.(jpe?g|png|webp)$/i.test(name);

async function resizeToJpeg(srcFile: string, dstFile: string, shortSide: number, quality: number): Promise<number> {
  const meta = await sharp(srcFile).metadata();
  if (!meta.width || !meta.height) throw new Error(`cannot read image size of ${srcFile}`);
  const size = meta.width <= meta.height ? { width: shortSide } : { height: shortSide };
  const info = await sharp(srcFile)
    .removeAlpha()
    .toColourspace('srgb')
    .resize({ ...size, kernel: 'cubic', fastShrinkOnLoad: false })
    .jpeg({ quality })
    .toFile(dstFile);
  return info.size;
}

async function makeSplit(opts: MakeDataOptions, split: string, perClass: number): Promise<{ files: number; bytes: number }> {
  const srcSplit = path.join(opts.src, split);
  if (!fs.existsSync(srcSplit)) throw new Error(`source split not found: ${srcSplit}`);
  const dstSplit = path.join(opts.dst, split);
  fs.rmSync(dstSplit, { recursive: true, force: true }); // stale files from an earlier, larger run
  let files = 0;
  let bytes = 0;
  const classes = fs.readdirSync(srcSplit).filter((d) => fs.statSync(path.join(srcSplit, d)).isDirectory()).sort(byCodeUnit);
  for (const wnid of classes) {
    const names = fs.readdirSync(path.join(srcSplit, wnid)).filter(isImage).sort(byCodeUnit).slice(0, perClass);
    fs.mkdirSync(path.join(dstSplit, wnid), { recursive: true });
    for (const name of names) {
      const dstName = name.replace(/\.[^.]+$/, '') + '.jpg';
      bytes += await resizeToJpeg(path.join(srcSplit, wnid, name), path.join(dstSplit, wnid, dstName), opts.shortSide, opts.quality);
      files++;
    }
  }
  return { files, bytes };
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  sharp.concurrency(1); // deterministic encoder output and a light load on shared machines
  fs.mkdirSync(opts.dst, { recursive: true });
  const train = await makeSplit(opts, 'train', opts.trainPerClass);
  const val = await makeSplit(opts, 'val', opts.valPerClass);
  const classesTsv = path.join(opts.src, 'classes.tsv');
  if (fs.existsSync(classesTsv)) fs.copyFileSync(classesTsv, path.join(opts.dst, 'classes.tsv'));
  const mb = (train.bytes + val.bytes) / 1e6;
  console.log(`wrote ${train.files} train + ${val.files} val images (${mb.toFixed(2)} MB) to ${opts.dst}`);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
