// The one place a backend is chosen (by name, from the command line).
import { GEMM_PRECISIONS, type Backend, type GemmPrecision } from '../engine/backend';
import { createReferenceBackend } from '../backends/reference/reference_backend';

export const BACKEND_NAMES = ['cpu', 'reference'] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];

/**
 * The GEMM precision chosen with the CLI's global --precision option. It travels in ITPN_PRECISION so the bench's
 * child process (our side of `itpn bench`) inherits it; float32 when unset.
 */
export function cliPrecision(): GemmPrecision {
  return process.env.ITPN_PRECISION === 'bf16' ? 'bf16' : 'float32';
}

export function setCliPrecision(p: string): void {
  if (!(GEMM_PRECISIONS as readonly string[]).includes(p)) throw new Error(`--precision must be ${GEMM_PRECISIONS.join(' or ')}, got "${p}"`);
  process.env.ITPN_PRECISION = p;
}

/** What the training commands print first in bf16 mode (nothing in float32). */
export function precisionNotice(): string | null {
  return cliPrecision() === 'bf16' ? 'GEMM precision bf16: GEMM inputs rounded to bfloat16, float32 accumulation and weights' : null;
}

/**
 * The backend by name, with the cpu backend's GEMM precision from --precision unless given (shape-only helpers pass
 * 'float32').
 */
export function createBackend(name: string, threads?: number, precision: GemmPrecision = cliPrecision()): Backend {
  switch (name) {
    case 'reference':
      if (precision !== 'float32') throw new Error(`--precision ${precision} needs the cpu backend`);
      return createReferenceBackend();
    case 'cpu': {
      // loaded lazily so the reference backend works even where the addon is not built
      const { createCpuBackend } = require('../backends/cpu/cpu_backend') as typeof import('../backends/cpu/cpu_backend');
      return createCpuBackend({ threads, precision });
    }
    default:
      throw new Error(`unknown backend "${name}" (choose from ${BACKEND_NAMES.join(', ')}; cuda is not built yet)`);
  }
}
