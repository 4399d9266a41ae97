// Strict parsers for numeric command-line options. parseInt/parseFloat accept "abc" (NaN), "2.5" (2) and "-3", which
// then travelled into a run (a NaN batch failed deep in the loader after the run folder was written; --epochs abc
// and --steps -3 "finished" a run of zero steps). These reject such values before anything starts, with commander's
// usual "option '--batch <n>' argument 'abc' is invalid" message.
import { InvalidArgumentError } from 'commander';

function integer(v: string, min: number, what: string): number {
  const x = Number(v.trim());
  if (!/^\s*\+?\d+\s*$/.test(v) || !Number.isSafeInteger(x) || x < min) throw new InvalidArgumentError(`expected ${what}.`);
  return x;
}

function number(v: string, ok: (x: number) => boolean, what: string): number {
  const x = Number(v.trim());
  if (v.trim() === '' || !Number.isFinite(x) || !ok(x)) throw new InvalidArgumentError(`expected ${what}.`);
  return x;
}

/** 1, 2, 3, …: sizes, counts, threads. */
export const positiveInt = (v: string): number => integer(v, 1, 'a whole number of at least 1');

/** 0, 1, 2, …: seeds, step numbers, "every N steps" where 0 means off. */
export const nonNegativeInt = (v: string): number => integer(v, 0, 'a whole number of at least 0');

/** Rates and strengths: learning rates, weight decay, mixup alphas, gradient-norm bounds. */
export const nonNegativeNumber = (v: string): number => number(v, (x) => x >= 0, 'a number of at least 0');

/** Probabilities and ratios in [0, 1]. */
export const fraction = (v: string): number => number(v, (x) => x >= 0 && x <= 1, 'a number from 0 to 1');
