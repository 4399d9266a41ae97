// Lifetime and grad-mode bookkeeping. Native and pooled memory is invisible to the garbage collector, so tensors
// are released explicitly: every tensor created inside `tidy(fn)` is disposed when fn returns, except the
// tensors it returns (handed to the enclosing scope) and tensors marked with `keep`.
// This is the engine's only process-wide state, like torch's grad mode.

export interface Disposable {
  dispose(): void;
  readonly isDisposed: boolean;
  kept: boolean;
}

const scopes: Disposable[][] = [];
let gradEnabled = true;

export function trackTensor(t: Disposable): void {
  if (scopes.length > 0) scopes[scopes.length - 1].push(t);
}

export function tidy<T>(fn: () => T): T {
  const scope: Disposable[] = [];
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    scopes.pop();
    for (const t of scope) if (!t.kept && !t.isDisposed) t.dispose();
    throw e;
  }
  scopes.pop();
  const survivors = new Set<Disposable>();
  collectDisposables(result, survivors);
  for (const t of scope) {
    if (t.kept || t.isDisposed) continue;
    if (survivors.has(t)) trackTensor(t);
    else t.dispose();
  }
  return result;
}

/** Async variant for code that awaits inside a step (data loading); scopes must not interleave. */
export async function tidyAsync<T>(fn: () => Promise<T>): Promise<T> {
  const scope: Disposable[] = [];
  scopes.push(scope);
  let result: T;
  try {
    result = await fn();
  } finally {
    const idx = scopes.lastIndexOf(scope);
    if (idx >= 0) scopes.splice(idx, 1);
  }
  const survivors = new Set<Disposable>();
  collectDisposables(result, survivors);
  for (const t of scope) {
    if (t.kept || t.isDisposed) continue;
    if (survivors.has(t)) trackTensor(t);
    else t.dispose();
  }
  return result;
}

/** Exempts a tensor from scope disposal (parameters, gradients, optimizer state). */
export function keep<T extends Disposable>(t: T): T {
  t.kept = true;
  return t;
}

function collectDisposables(x: unknown, out: Set<Disposable>, depth = 0): void {
  if (x == null || typeof x !== 'object' || depth > 4) return;
  if (isDisposable(x)) {
    out.add(x);
    return;
  }
  if (Array.isArray(x)) for (const v of x) collectDisposables(v, out, depth + 1);
  else if (x instanceof Map) for (const v of x.values()) collectDisposables(v, out, depth + 1);
  else for (const v of Object.values(x)) collectDisposables(v, out, depth + 1);
}

function isDisposable(x: object): x is Disposable {
  return typeof (x as Disposable).dispose === 'function' && 'kept' in x;
}

export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs fn without recording operations for autograd (evaluation, optimizer updates, EMA). */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

export async function noGradAsync<T>(fn: () => Promise<T>): Promise<T> {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return await fn();
  } finally {
    gradEnabled = prev;
  }
}
