// Ctrl+C (SIGINT) or SIGTERM during a training command: the run finishes its current step, saves a checkpoint and
// stops, so `--resume` continues it and no finished step is lost; a second signal quits at once without saving.

/** Polled by the training loops after every optimizer step. */
export interface StopRequest {
  readonly requested: boolean;
}

/** Installs the SIGINT/SIGTERM handlers until dispose(); `log` tells the user what happens. */
export function watchInterrupts(log: (s: string) => void = (s) => console.error(s)): StopRequest & { dispose(): void } {
  let requested = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (requested) {
      log(`\n${signal} again: quitting without saving`);
      process.exit(130);
    }
    requested = true;
    log(`\n${signal}: stopping after the current step and saving a checkpoint (send it again to quit at once)`);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    get requested() { return requested; },
    dispose() {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

/** Runs a training loop with the handlers installed, and removes them afterwards. */
export async function withInterrupts<T>(run: (stop: StopRequest) => Promise<T>): Promise<T> {
  const stop = watchInterrupts();
  try {
    return await run(stop);
  } finally {
    stop.dispose();
  }
}
