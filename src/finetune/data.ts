// The labelled train/val folders of fine-tuning and probing: one sub-folder per class, the same class folders in
// both (an error before any work otherwise), display names from classes.tsv when there is one.
import { displayClassNames, listImageFolder, readClassNames, type ImageSample } from '../data/image_folder';

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
