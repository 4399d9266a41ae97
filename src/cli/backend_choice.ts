// The one place a backend is chosen (by name, from the command line).
import type { Backend } from '../engine/backend';
import { createReferenceBackend } from '../backends/reference/reference_backend';

export const BACKEND_NAMES = ['cpu', 'reference'] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];

/**
 * The backend by name. The cpu backend's GEMM precision defaults to ITPN_PRECISION (float32 | bf16), which the CLI's
 * global --precision option sets, so child processes (the bench's own side) inherit it. Shape-only helpers pass
 * 'float32' explicitly.
 */
export function createBackend(name: string, threads?: number, precision: string | undefined = process.env.ITPN_PRECISION): Backend {
  switch (name) {
    case 'reference':
      if (precision && precision !== 'float32') throw new Error(`--precision ${precision} needs the cpu backend`);
      return createReferenceBackend();
    case 'cpu': {
      // loaded lazily so the reference backend works even where the addon is not built
      const { createCpuBackend } = require('../backends/cpu/cpu_backend') as typeof import('../backends/cpu/cpu_backend');
      return createCpuBackend({ threads, precision: (precision ?? 'float32') as 'float32' | 'bf16' });
    }
    default:
      throw new Error(`unknown backend "${name}" (choose from ${BACKEND_NAMES.join(', ')}; cuda is not built yet)`);
  }
}
