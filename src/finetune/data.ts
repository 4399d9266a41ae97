// The labelled train/val folders of fine-tuning and probing: one sub-folder per class, the same class folders in
// both (an error before any work otherwise), display names from classes.tsv when there is one; and the classes of
// weights that carry no class list, read from such a folder.
import { displayClassNames, listClassFolders, listImageFolder, readClassNames, type ImageSample } from '../data/image_folder';

export interface TrainValData {
  train: ImageSample[];
  val: ImageSample[];
  /** Folder names in label order. */
  classes: string[];
  classNames: string[];
}

export function listTrainVal(trainDir: string, valDir: string): TrainValData {
  const train = listImageFolder(trainDir, { layout: 'classes' });
  const val = listImageFolder(valDir, { layout: 'classes' });
  const onlyTrain = train.classes.filter((c) => !val.classes.includes(c));
  const onlyVal = val.classes.filter((c) => !train.classes.includes(c));
  if (onlyTrain.length || onlyVal.length) {
    throw new Error(`the class folders of ${trainDir} and ${valDir} differ:` +
      (onlyTrain.length ? ` only in train: ${onlyTrain.join(', ')};` : '') + (onlyVal.length ? ` only in val: ${onlyVal.join(', ')}` : ''));
  }
  // equal sets of folder names sort the same, so the label ids agree
  return { train: train.samples, val: val.samples, classes: train.classes, classNames: displayClassNames(train.classes, readClassNames(trainDir)) };
}

/**
 * Classes for weights without a class list (an official fine-tuned .pth): the class sub-folders of `dir`, sorted,
 * which is the label order of torchvision's ImageFolder that the official fine-tuning used; names from a classes.tsv
 * beside them when present. The folder count must equal the head's.
 */
export function classesFromFolder(dir: string, headSize: number): { classes: string[]; class_names: string[] } {
  const classes = listClassFolders(dir); // names only: the images are listed by whoever reads them
  if (classes.length !== headSize) {
    throw new Error(`the checkpoint's head has ${headSize} classes and names none; ${dir} has ${classes.length} class folders. ` +
      `Give a folder with exactly ${headSize} class sub-folders, whose sorted names are the labels' order (as torchvision's ImageFolder)`);
  }
  return { classes, class_names: displayClassNames(classes, readClassNames(dir)) };
}
