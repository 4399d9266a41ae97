// The in-memory currency of the serialisation layer: a tensor as it lives in a
// file (dtype + shape) with its values decoded into a JS typed array.
import * as os from 'node:os';

export type FileDType = 'F32' | 'F16' | 'BF16' | 'F64' | 'I64' | 'I32' | 'BOOL' | 'U8';

export type RawTensorData = Float32Array | Float64Array | Int32Array | Uint8Array;

export interface RawTensor {
  /** The dtype in the file; kept so a round trip re-encodes to the same dtype. */
  dtype: FileDType;
  shape: number[];
  /** Row-major values: F32/F16/BF16 → Float32Array, F64 → Float64Array, I64/I32 → Int32Array, BOOL/U8 → Uint8Array. */
  data: RawTensorData;
}

export const FILE_DTYPES: readonly FileDType[] = ['F32', 'F16', 'BF16', 'F64', 'I64', 'I32', 'BOOL', 'U8'];

/** Bytes per element in the file (not in memory: F16 is 2 bytes on disk, 4 in memory). */
export const DTYPE_ITEM_SIZE: Readonly<Record<FileDType, number>> = {
  F32: 4, F16: 2, BF16: 2, F64: 8, I64: 8, I32: 4, BOOL: 1, U8: 1,
};

// Decoding views the file bytes through typed arrays, which use host byte order.
if (os.endianness() !== 'LE') {
  throw new Error('itpn io: big-endian hosts are not supported (tensor files are little-endian)');
}

export function isFileDType(value: unknown): value is FileDType {
  return typeof value === 'string' && (FILE_DTYPES as readonly string[]).includes(value);
}

export function numelOf(shape: readonly number[]): number {
  let count = 1;
  for (const size of shape) count *= size;
  return count;
}

export function isRawTensor(value: unknown): value is RawTensor {
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as Partial<RawTensor>;
  return isFileDType(candidate.dtype) && Array.isArray(candidate.shape) && ArrayBuffer.isView(candidate.data);
}

/** The typed array a dtype lives in once decoded (instanceof, so Buffer counts as a Uint8Array). */
function arrayTypeFor(dtype: FileDType): { name: string; matches: (data: unknown) => boolean } {
  switch (dtype) {
    case 'F32': case 'F16': case 'BF16': return { name: 'Float32Array', matches: (d) => d instanceof Float32Array };
    case 'F64': return { name: 'Float64Array', matches: (d) => d instanceof Float64Array };
    case 'I64': case 'I32': return { name: 'Int32Array', matches: (d) => d instanceof Int32Array };
    case 'BOOL': case 'U8': return { name: 'Uint8Array', matches: (d) => d instanceof Uint8Array };
  }
}

/** Throws (naming the tensor) when the data array type or length does not match dtype and shape. */
export function checkRawTensor(name: string, tensor: RawTensor): void {
  if (!isFileDType(tensor.dtype)) throw new Error(`tensor '${name}': unknown dtype ${String(tensor.dtype)}`);
  for (const size of tensor.shape) {
    if (!Number.isInteger(size) || size < 0) throw new Error(`tensor '${name}': invalid shape [${tensor.shape.join(', ')}]`);
  }
  const expected = arrayTypeFor(tensor.dtype);
  if (!expected.matches(tensor.data)) {
    throw new Error(`tensor '${name}': dtype ${tensor.dtype} needs a ${expected.name}, got ${tensor.data.constructor.name}`);
  }
  const numel = numelOf(tensor.shape);
  if (tensor.data.length !== numel) {
    throw new Error(`tensor '${name}': data has ${tensor.data.length} elements, shape [${tensor.shape.join(', ')}] needs ${numel}`);
  }
}

/** Values as float32. Returns the tensor's own array (no copy) when it already is a Float32Array. */
export function toF32(raw: RawTensor): Float32Array {
  if (raw.data instanceof Float32Array) return raw.data;
  return Float32Array.from(raw.data);
}

/** Values as int32 (integer and bool dtypes only). Returns the tensor's own array when it already is an Int32Array. */
export function toI32(raw: RawTensor): Int32Array {
  if (raw.data instanceof Int32Array) return raw.data;
  if (raw.data instanceof Uint8Array) return Int32Array.from(raw.data);
  throw new Error(`toI32: dtype ${raw.dtype} is not an integer dtype`);
}

/** A float32 RawTensor (copies values). */
export function f32Tensor(shape: number[], values: ArrayLike<number>): RawTensor {
  return { dtype: 'F32', shape: [...shape], data: Float32Array.from(values) };
}

// ---------------------------------------------------------------------------
// Half-precision conversions. Bit tricks go through one shared scratch word.

const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

/** float32 → IEEE binary16 bits, round-to-nearest-even; overflow → ±Inf, NaN → quiet NaN. */
export function f32ToF16Bits(value: number): number {
  scratchF32[0] = value;
  const bits = scratchU32[0];
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  const mantissa = bits & 0x7fffff;
  if (exponent === 0xff) {
    // Keep NaN a NaN (quiet bit set, top payload bits kept); Inf stays Inf.
    return mantissa !== 0 ? sign | 0x7e00 | (mantissa >>> 13) : sign | 0x7c00;
  }
  const halfExponent = exponent - 127 + 15;
  if (halfExponent >= 0x1f) return sign | 0x7c00;
  if (halfExponent >= 1) {
    let half = (halfExponent << 10) | (mantissa >>> 13);
    const dropped = mantissa & 0x1fff;
    // A carry out of the mantissa correctly bumps the exponent (and reaches Inf at the top).
    if (dropped > 0x1000 || (dropped === 0x1000 && (half & 1) === 1)) half += 1;
    return sign | half;
  }
  // Result is subnormal (or zero) in binary16: value = m * 2^(halfExponent - 38) with the implicit bit in m.
  const shift = 14 - halfExponent;
  if (shift > 24) return sign;
  const fullMantissa = mantissa | 0x800000;
  let half = fullMantissa >>> shift;
  const dropped = fullMantissa & ((1 << shift) - 1);
  const halfway = 1 << (shift - 1);
  if (dropped > halfway || (dropped === halfway && (half & 1) === 1)) half += 1;
  return sign | half;
}

/** IEEE binary16 bits → number (exact). */
export function f16BitsToF32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >>> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa !== 0 ? NaN : sign * Infinity;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

/** float32 → bfloat16 bits, round-to-nearest-even; NaN → quiet NaN. */
export function f32ToBf16Bits(value: number): number {
  scratchF32[0] = value;
  const bits = scratchU32[0];
  if ((bits & 0x7f800000) === 0x7f800000 && (bits & 0x7fffff) !== 0) return (bits >>> 16) | 0x40;
  const roundingBias = 0x7fff + ((bits >>> 16) & 1);
  return ((bits + roundingBias) >>> 16) & 0xffff;
}

/** bfloat16 bits → number (exact). */
export function bf16BitsToF32(bits: number): number {
  scratchU32[0] = (bits & 0xffff) << 16;
  return scratchF32[0];
}

// All 65536 binary16 values decoded once: decoding big F16 tensors becomes a table lookup.
let f16Table: Float32Array | undefined;
function f16DecodeTable(): Float32Array {
  if (!f16Table) {
    f16Table = new Float32Array(65536);
    for (let bits = 0; bits < 65536; bits++) f16Table[bits] = f16BitsToF32(bits);
  }
  return f16Table;
}

// ---------------------------------------------------------------------------
// Bytes <-> RawTensor.

/** Copies bytes into a fresh, aligned buffer so typed arrays can view it. */
function alignedCopy(bytes: Uint8Array): ArrayBuffer {
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return copy.buffer;
}

/**
 * Decodes little-endian row-major bytes of `dtype` into a RawTensor.
 * `name` only labels errors (e.g. an I64 value that does not fit int32).
 */
export function decodeTensorBytes(dtype: FileDType, shape: number[], bytes: Uint8Array, name: string): RawTensor {
  const numel = numelOf(shape);
  const expectedBytes = numel * DTYPE_ITEM_SIZE[dtype];
  if (bytes.byteLength !== expectedBytes) {
    throw new Error(`tensor '${name}': ${dtype} shape [${shape.join(', ')}] needs ${expectedBytes} bytes, got ${bytes.byteLength}`);
  }
  const outShape = [...shape];
  switch (dtype) {
    case 'F32':
      return { dtype, shape: outShape, data: new Float32Array(alignedCopy(bytes)) };
    case 'F64':
      return { dtype, shape: outShape, data: new Float64Array(alignedCopy(bytes)) };
    case 'I32':
      return { dtype, shape: outShape, data: new Int32Array(alignedCopy(bytes)) };
    case 'BOOL':
    case 'U8':
      return { dtype, shape: outShape, data: new Uint8Array(bytes) }; // a plain Uint8Array even when given a Buffer
    case 'F16': {
      const halves = new Uint16Array(alignedCopy(bytes));
      const table = f16DecodeTable();
      const data = new Float32Array(numel);
      for (let i = 0; i < numel; i++) data[i] = table[halves[i]];
      return { dtype, shape: outShape, data };
    }
    case 'BF16': {
      const halves = new Uint16Array(alignedCopy(bytes));
      const words = new Uint32Array(numel);
      for (let i = 0; i < numel; i++) words[i] = halves[i] << 16;
      return { dtype, shape: outShape, data: new Float32Array(words.buffer) };
    }
    case 'I64': {
      const words = new Int32Array(alignedCopy(bytes));
      const data = new Int32Array(numel);
      for (let i = 0; i < numel; i++) {
        const low = words[2 * i];
        const high = words[2 * i + 1];
        // Fits int32 exactly when the high word is the sign extension of the low word.
        if (high !== (low >> 31)) {
          const value = (BigInt(high) << 32n) | BigInt(low >>> 0);
          throw new Error(`tensor '${name}': I64 value ${value} at index ${i} does not fit in int32`);
        }
        data[i] = low;
      }
      return { dtype, shape: outShape, data };
    }
  }
}

/** Encodes a RawTensor as little-endian row-major bytes of its dtype. */
export function encodeTensorBytes(tensor: RawTensor, name: string): Uint8Array {
  checkRawTensor(name, tensor);
  const numel = tensor.data.length;
  switch (tensor.dtype) {
    case 'F32': case 'F64': case 'I32': case 'BOOL': case 'U8':
      return new Uint8Array(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength);
    case 'F16': {
      const source = tensor.data as Float32Array;
      const halves = new Uint16Array(numel);
      for (let i = 0; i < numel; i++) halves[i] = f32ToF16Bits(source[i]);
      return new Uint8Array(halves.buffer);
    }
    case 'BF16': {
      const source = tensor.data as Float32Array;
      const halves = new Uint16Array(numel);
      for (let i = 0; i < numel; i++) halves[i] = f32ToBf16Bits(source[i]);
      return new Uint8Array(halves.buffer);
    }
    case 'I64': {
      const source = tensor.data as Int32Array;
      const words = new Int32Array(numel * 2);
      for (let i = 0; i < numel; i++) {
        words[2 * i] = source[i];
        words[2 * i + 1] = source[i] >> 31;
      }
      return new Uint8Array(words.buffer);
    }
  }
}

// ---------------------------------------------------------------------------
// Strided layouts (torch tensors may be views with arbitrary strides).

/** True when (shape, strides) is the row-major layout; size-1 dims may have any stride. */
export function isRowMajor(shape: readonly number[], strides: readonly number[]): boolean {
  let expected = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    if (shape[d] !== 1 && strides[d] !== expected) return false;
    expected *= shape[d];
  }
  return true;
}

/**
 * Copies the elements of a strided view into a fresh row-major byte array.
 * `source` holds elements of `itemSize` bytes; offset and strides count elements.
 * Works at byte level so it serves every dtype.
 */
export function materializeStrided(
  source: Uint8Array, itemSize: number, offset: number, shape: readonly number[], strides: readonly number[],
): Uint8Array {
  if (shape.length !== strides.length) throw new Error(`materializeStrided: shape rank ${shape.length} != strides rank ${strides.length}`);
  const numel = numelOf(shape);
  if (numel === 0) return new Uint8Array(0);
  let lastIndex = offset;
  for (let d = 0; d < shape.length; d++) {
    if (strides[d] < 0) throw new Error('materializeStrided: negative strides are not supported');
    lastIndex += (shape[d] - 1) * strides[d];
  }
  if (offset < 0 || (lastIndex + 1) * itemSize > source.byteLength) {
    throw new Error(`materializeStrided: view reaches element ${lastIndex} but the source holds ${Math.floor(source.byteLength / itemSize)}`);
  }
  if (isRowMajor(shape, strides)) return source.slice(offset * itemSize, (offset + numel) * itemSize);

  const rank = shape.length;
  const rowLength = shape[rank - 1];
  const rowStride = strides[rank - 1];
  const rowCount = numel / rowLength;
  const counters = new Array<number>(rank - 1).fill(0);
  const out = new Uint8Array(numel * itemSize);
  let rowStart = offset;
  let outPos = 0;
  for (let row = 0; row < rowCount; row++) {
    if (rowStride === 1) {
      out.set(source.subarray(rowStart * itemSize, (rowStart + rowLength) * itemSize), outPos);
      outPos += rowLength * itemSize;
    } else {
      for (let j = 0; j < rowLength; j++) {
        const from = (rowStart + j * rowStride) * itemSize;
        for (let b = 0; b < itemSize; b++) out[outPos++] = source[from + b];
      }
    }
    // Odometer over the outer dims: step the innermost that has room, rewind the ones that wrapped.
    for (let d = rank - 2; d >= 0; d--) {
      counters[d]++;
      rowStart += strides[d];
      if (counters[d] < shape[d]) break;
      rowStart -= strides[d] * shape[d];
      counters[d] = 0;
    }
  }
  return out;
}
