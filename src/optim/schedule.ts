// Learning-rate schedules as pure functions of the iteration (MAE util/lr_sched.py, per iteration).

export interface CosineSchedule {
  baseLr: number;
  minLr: number;
  warmupSteps: number;
  totalSteps: number;
}

/** Linear warmup from 0 to baseLr over warmupSteps, then half-cosine down to minLr at totalSteps. */
export function lrAt(step: number, s: CosineSchedule): number {
  if (step < s.warmupSteps) return (s.baseLr * step) / s.warmupSteps;
  const span = Math.max(1, s.totalSteps - s.warmupSteps);
  const progress = Math.min(1, (step - s.warmupSteps) / span);
  return s.minLr + (s.baseLr - s.minLr) * 0.5 * (1 + Math.cos(Math.PI * progress));
}
