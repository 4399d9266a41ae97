// The one place a backend is chosen (by name, from the command line).
import type { Backend } from '../engine/backend';
import { createReferenceBackend } from '../backends/reference/reference_backend';

export const BACKEND_NAMES = ['cpu', 'reference'] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];

export function createBackend(name: string, threads?: number): Backend {
  switch (name) {
    case 'reference':
      return createReferenceBackend();
    case 'cpu': {
      // loaded lazily so the reference backend works even where the addon is not built
      const { createCpuBackend } = require('../backends/cpu/cpu_backend') as typeof import('../backends/cpu/cpu_backend');
      return createCpuBackend({ threads });
    }
    default:
      throw new Error(`unknown backend "${name}" (choose from ${BACKEND_NAMES.join(', ')}; cuda is not built yet)`);
  }
}
