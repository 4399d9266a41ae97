// A progress bar on stderr for the commands' long loops over images (eval, features, predict, probe), drawn only when
// stderr is a terminal: logs and pipes get the commands' usual lines and nothing else.
import cliProgress from 'cli-progress';

export interface Progress {
  /** `done` of the total so far. */
  update(done: number): void;
  /** Removes nothing: leaves the last state on its line and ends it, so later output starts on a new line. */
  stop(): void;
}

export function imageProgress(label: string, total: number): Progress {
  if (!process.stderr.isTTY || total <= 0) return { update: () => undefined, stop: () => undefined };
  const bar = new cliProgress.SingleBar({ format: `${label} |{bar}| {value}/{total} images, ETA {eta_formatted}`, hideCursor: true, stream: process.stderr },
    cliProgress.Presets.shades_classic);
  bar.start(total, 0);
  return { update: (done) => bar.update(done), stop: () => bar.stop() };
}
