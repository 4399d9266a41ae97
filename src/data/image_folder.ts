// Lists an image data set on disk, torchvision ImageFolder style, and checks it before any work starts.
import * as fs from 'fs';
import * as path from 'path';

export interface ImageSample {
  path: string;
  label: number;
}

export interface ImageFolderListing {
  samples: ImageSample[];
  /** Folder name of each label id; [''] for a flat folder. */
  classes: string[];
}

export interface ListImageFolderOptions {
  /** Lower-case extensions without the dot; default jpg, jpeg, png, webp. */
  extensions?: string[];
  /**
   * Fixed class list (e.g. the training set's), so a validation folder that lacks a class
   * still gets the same label ids. Sub-folders not in the list are an error.
   */
  classes?: string[];
  /** 'auto' (default): images directly in root mean a flat folder, otherwise sub-folders are classes. */
  layout?: 'auto' | 'classes' | 'flat';
}

export const DEFAULT_IMAGE_EXTENSIONS = ['jpg', 'jpeg', 'png', 'webp'];

// Plain code-unit order, like Python's sorted(), so label ids match the official tooling on any locale.
function byCodeUnit(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function isDirectory(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory(); // statSync follows symlinks
  } catch {
    return false;
  }
}

function hasImageExtension(name: string, extensions: Set<string>): boolean {
  const ext = path.extname(name).slice(1).toLowerCase();
  return extensions.has(ext);
}

/** Visible (non-dot) entries of a folder, sorted, split into sub-folders and image files. */
function readFolder(dir: string, extensions: Set<string>): { dirs: string[]; images: string[] } {
  const dirs: string[] = [];
  const images: string[] = [];
  const names = fs.readdirSync(dir).filter((n) => !n.startsWith('.')).sort(byCodeUnit);
  for (const name of names) {
    const full = path.join(dir, name);
    if (isDirectory(full)) dirs.push(name);
    else if (hasImageExtension(name, extensions)) images.push(full);
  }
  return { dirs, images };
}

function listImagesRecursive(dir: string, extensions: Set<string>, out: string[]): string[] {
  const { dirs, images } = readFolder(dir, extensions);
  out.push(...images);
  for (const sub of dirs) listImagesRecursive(path.join(dir, sub), extensions, out);
  return out;
}

function checkFolder(root: string): void {
  if (!fs.existsSync(root)) throw new Error(`image folder not found: ${root}`);
  if (!isDirectory(root)) throw new Error(`image folder path is not a directory: ${root}`);
}

/** The class sub-folders of `root` in label order (as listImageFolder's classes), without listing their images. */
export function listClassFolders(root: string): string[] {
  checkFolder(root);
  return readFolder(root, new Set()).dirs;
}

/**
 * Lists images under `root`: either one sub-folder per class (sorted names give label ids)
 * or a flat folder (every image label 0, classes ['']). Recursive inside each class.
 * Throws, naming the path, if root is missing, not a folder, or holds no images.
 */
export function listImageFolder(root: string, opts: ListImageFolderOptions = {}): ImageFolderListing {
  const extensions = new Set((opts.extensions ?? DEFAULT_IMAGE_EXTENSIONS).map((e) => e.replace(/^\./, '').toLowerCase()));
  checkFolder(root);
  const top = readFolder(root, extensions);
  const layout = opts.layout ?? 'auto';
  const flat = layout === 'flat' || (layout === 'auto' && (top.images.length > 0 || top.dirs.length === 0));

  let samples: ImageSample[];
  let classes: string[];
  if (flat) {
    classes = [''];
    samples = listImagesRecursive(root, extensions, []).map((p) => ({ path: p, label: 0 }));
  } else {
    if (top.dirs.length === 0 && top.images.length > 0) {
      throw new Error(`image folder ${root} holds ${top.images.length} images but no class sub-folders; ` +
        'classification needs one sub-folder per class (for example train/<class>/*.jpg)');
    }
    classes = opts.classes ? [...opts.classes] : top.dirs;
    const labelOf = new Map(classes.map((c, i) => [c, i] as const));
    const unknown = top.dirs.filter((d) => !labelOf.has(d));
    if (unknown.length > 0) {
      throw new Error(`image folder ${root} has class folders not in the given class list: ${unknown.join(', ')}`);
    }
    samples = [];
    for (const dir of top.dirs) {
      const label = labelOf.get(dir)!;
      for (const p of listImagesRecursive(path.join(root, dir), extensions, [])) samples.push({ path: p, label });
    }
    samples.sort((a, b) => a.label - b.label || byCodeUnit(a.path, b.path));
  }

  if (samples.length === 0) {
    throw new Error(`no images (${[...extensions].join('/')}) found in image folder: ${root}`);
  }
  return { samples, classes };
}

/**
 * Human names for class folders from a `classes.tsv` (folder<TAB>name per line) in root or its parent.
 * Returns an empty map when there is no such file.
 */
export function readClassNames(root: string): Map<string, string> {
  const names = new Map<string, string>();
  for (const dir of [root, path.dirname(path.resolve(root))]) {
    const file = path.join(dir, 'classes.tsv');
    if (!fs.existsSync(file)) continue;
    for (const line of fs.readFileSync(file, 'utf8').split(/\r?\n/)) {
      const tab = line.indexOf('\t');
      if (tab <= 0) continue;
      names.set(line.slice(0, tab).trim(), line.slice(tab + 1).trim());
    }
    break;
  }
  return names;
}

/** Display names for label ids: the human name when known, else the folder name. */
export function displayClassNames(classes: string[], names: Map<string, string>): string[] {
  return classes.map((c) => names.get(c) ?? c);
}
