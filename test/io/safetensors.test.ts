import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { encodeSafetensors, readSafetensors, writeSafetensors } from '../../src/io/safetensors';
import {
  RawTensor, bf16BitsToF32, decodeTensorBytes, f16BitsToF32, f32ToBf16Bits, f32ToF16Bits, toF32, toI32,
} from '../../src/io/raw_tensor';

const FIXTURES = path.resolve(__dirname, '../../../test/fixtures');

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'itpn-io-'));
}

/** One tensor of every dtype, with values each dtype holds exactly. */
function everyDtype(): Map<string, RawTensor> {
  return new Map<string, RawTensor>([
    ['f32', { dtype: 'F32', shape: [2, 3], data: new Float32Array([0, -0, 1.5, -3.25e-20, Infinity, 123456.78125]) }],
    ['f16', { dtype: 'F16', shape: [5], data: new Float32Array([1, -2.5, 65504, 2 ** -24, -0.0009765625]) }],
    ['bf16', { dtype: 'BF16', shape: [2, 2], data: new Float32Array([1, -2.5, 3.3895313892515355e38, 2 ** -133]) }],
    ['f64', { dtype: 'F64', shape: [3], data: new Float64Array([Math.PI, -1e300, 5e-324]) }],
    ['i64', { dtype: 'I64', shape: [4], data: new Int32Array([0, -1, 2147483647, -2147483648]) }],
    ['i32', { dtype: 'I32', shape: [2, 1], data: new Int32Array([-7, 1 << 30]) }],
    ['bool', { dtype: 'BOOL', shape: [3], data: new Uint8Array([1, 0, 1]) }],
    ['u8', { dtype: 'U8', shape: [2], data: new Uint8Array([0, 255]) }],
    ['scalar', { dtype: 'F32', shape: [], data: new Float32Array([42]) }],
    ['empty', { dtype: 'F32', shape: [0, 3], data: new Float32Array(0) }],
  ]);
}

function assertSameTensors(actual: Map<string, RawTensor>, expected: Map<string, RawTensor>): void {
  assert.deepEqual([...actual.keys()], [...expected.keys()]);
  for (const [name, tensor] of expected) {
    const got = actual.get(name)!;
    assert.equal(got.dtype, tensor.dtype, name);
    assert.deepEqual(got.shape, tensor.shape, name);
    assert.equal(got.data.constructor, tensor.data.constructor, name);
    assert.deepEqual(Array.from(got.data), Array.from(tensor.data), name);
  }
}

function headerLength(bytes: Uint8Array): number {
  return Number(Buffer.from(bytes).readBigUInt64LE(0));
}

test('f16 encode/decode of known values', () => {
  const cases: Array<[number, number]> = [
    [1, 0x3c00], [-2.5, 0xc100], [65504, 0x7bff], [0, 0x0000], [-0, 0x8000],
    [2 ** -24, 0x0001], [2 ** -14, 0x0400], [0.000060975551605224609375, 0x03ff],
    [Infinity, 0x7c00], [-Infinity, 0xfc00],
  ];
  for (const [value, bits] of cases) {
    assert.equal(f32ToF16Bits(value), bits, `encode ${value}`);
    assert.ok(Object.is(f16BitsToF32(bits), value), `decode 0x${bits.toString(16)}`);
  }
  // Rounding: nearest, ties to even; overflow to Inf; underflow below half the smallest subnormal to 0.
  assert.equal(f32ToF16Bits(1 + 2 ** -11), 0x3c00);
  assert.equal(f32ToF16Bits(1 + 3 * 2 ** -11), 0x3c02);
  assert.equal(f32ToF16Bits(65519), 0x7bff);
  assert.equal(f32ToF16Bits(65520), 0x7c00);
  assert.equal(f32ToF16Bits(1e6), 0x7c00);
  assert.equal(f32ToF16Bits(2 ** -25), 0x0000);
  assert.equal(f32ToF16Bits(3 * 2 ** -25), 0x0002);
  assert.equal(f32ToF16Bits(1e-10), 0x0000);
  assert.equal(f32ToF16Bits(0x3ff * 2 ** -24 + 2 ** -25), 0x0400); // subnormal rounding carries into the exponent
  assert.equal(f16BitsToF32(f32ToF16Bits(1 / 3)), 0.333251953125);
  // NaN stays NaN both ways.
  assert.equal(f32ToF16Bits(NaN) & 0x7e00, 0x7e00);
  assert.ok(Number.isNaN(f16BitsToF32(f32ToF16Bits(NaN))));
  assert.ok(Number.isNaN(f16BitsToF32(0x7c01)));
});

test('f16 decode then encode is the identity on all non-NaN bit patterns', () => {
  for (let bits = 0; bits < 0x10000; bits++) {
    const value = f16BitsToF32(bits);
    if (!Number.isNaN(value)) assert.equal(f32ToF16Bits(value), bits);
  }
});

test('bf16 encode/decode of known values', () => {
  const cases: Array<[number, number]> = [
    [1, 0x3f80], [-2.5, 0xc020], [0, 0x0000], [-0, 0x8000], [Infinity, 0x7f80], [-Infinity, 0xff80],
    [2 ** -133, 0x0001], [3.3895313892515355e38, 0x7f7f],
  ];
  for (const [value, bits] of cases) {
    assert.equal(f32ToBf16Bits(value), bits, `encode ${value}`);
    assert.ok(Object.is(bf16BitsToF32(bits), value), `decode 0x${bits.toString(16)}`);
  }
  assert.equal(f32ToBf16Bits(1 + 2 ** -8), 0x3f80); // tie → even
  assert.equal(f32ToBf16Bits(1 + 3 * 2 ** -8), 0x3f82); // tie → even (upwards)
  assert.equal(f32ToBf16Bits(1 + 2 ** -8 + 2 ** -20), 0x3f81);
  assert.equal(f32ToBf16Bits(3.4028234663852886e38), 0x7f80); // float32 max rounds to Inf
  assert.ok(Number.isNaN(bf16BitsToF32(f32ToBf16Bits(NaN))));
});

test('round trip of every dtype through a file and through memory', () => {
  const dir = tempDir();
  try {
    const tensors = everyDtype();
    const file = path.join(dir, 'all.safetensors');
    writeSafetensors(file, tensors, { format: 'pt', note: 'ünïcode' });
    assert.deepEqual(fs.readdirSync(dir), ['all.safetensors'], 'no temp file left behind');
    const fromFile = readSafetensors(file);
    assertSameTensors(fromFile.tensors, tensors);
    assert.deepEqual(fromFile.metadata, { format: 'pt', note: 'ünïcode' });

    const entries = [...tensors].map(([name, tensor]) => ({ name, tensor }));
    const bytes = encodeSafetensors(entries);
    assert.deepEqual(encodeSafetensors(tensors, { format: 'pt', note: 'ünïcode' }), fs.readFileSync(file), 'file = in-memory encoding');
    const fromMemory = readSafetensors(bytes);
    assertSameTensors(fromMemory.tensors, tensors);
    assert.deepEqual(fromMemory.metadata, {});
    assert.equal((8 + headerLength(bytes)) % 8, 0, 'data starts 8-byte aligned');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('write overwrites an existing file atomically', () => {
  const dir = tempDir();
  try {
    const file = path.join(dir, 'w.safetensors');
    fs.writeFileSync(file, 'old contents');
    writeSafetensors(file, [{ name: 'x', tensor: { dtype: 'F32', shape: [1], data: new Float32Array([7]) } }]);
    assert.deepEqual(Array.from(readSafetensors(file).tensors.get('x')!.data), [7]);
    assert.deepEqual(fs.readdirSync(dir), ['w.safetensors']);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('F16/BF16 writes round the float32 values; I64 writes sign-extend', () => {
  const bytes = encodeSafetensors([
    { name: 'h', tensor: { dtype: 'F16', shape: [2], data: new Float32Array([1 / 3, 1e6]) } },
    { name: 'b', tensor: { dtype: 'BF16', shape: [1], data: new Float32Array([1 / 3]) } },
    { name: 'l', tensor: { dtype: 'I64', shape: [2], data: new Int32Array([-2, 5]) } },
  ]);
  const { tensors } = readSafetensors(bytes);
  assert.deepEqual(Array.from(tensors.get('h')!.data), [0.333251953125, Infinity]);
  assert.deepEqual(Array.from(tensors.get('b')!.data), [0.333984375]);
  const dataStart = 8 + headerLength(bytes);
  const header = JSON.parse(bytes.subarray(8, dataStart).toString('utf8'));
  const [begin] = header.l.data_offsets as number[];
  assert.equal(bytes.readBigInt64LE(dataStart + begin), -2n);
  assert.equal(bytes.readBigInt64LE(dataStart + begin + 8), 5n);
});

test('toF32 / toI32 helpers', () => {
  const f64: RawTensor = { dtype: 'F64', shape: [2], data: new Float64Array([0.5, -1]) };
  assert.ok(toF32(f64) instanceof Float32Array);
  assert.deepEqual(Array.from(toF32(f64)), [0.5, -1]);
  const f32: RawTensor = { dtype: 'F32', shape: [1], data: new Float32Array([2]) };
  assert.equal(toF32(f32), f32.data);
  assert.deepEqual(Array.from(toF32({ dtype: 'I64', shape: [2], data: new Int32Array([3, -4]) })), [3, -4]);
  assert.deepEqual(Array.from(toI32({ dtype: 'BOOL', shape: [2], data: new Uint8Array([1, 0]) })), [1, 0]);
  assert.throws(() => toI32(f32), /not an integer dtype/);
});

test('reads every fixture safetensors file', () => {
  const files: string[] = [];
  for (const folder of fs.readdirSync(FIXTURES)) {
    const folderPath = path.join(FIXTURES, folder);
    if (!fs.statSync(folderPath).isDirectory()) continue;
    for (const name of fs.readdirSync(folderPath)) if (name.endsWith('.safetensors')) files.push(path.join(folderPath, name));
  }
  assert.ok(files.length >= 18, `found ${files.length} fixture files`);
  for (const file of files) {
    const { tensors } = readSafetensors(file);
    assert.ok(tensors.size > 0, file);
  }

  const pixel = readSafetensors(path.join(FIXTURES, 'pixel-pretrain/weights.safetensors')).tensors;
  assert.deepEqual(pixel.get('absolute_pos_embed')!.shape, [1, 16, 64]);
  assert.deepEqual(pixel.get('patch_embed.proj.weight')!.shape, [16, 3, 4, 4]);
  assert.equal(pixel.get('patch_embed.proj.weight')!.dtype, 'F32');

  const classify = readSafetensors(path.join(FIXTURES, 'classify/weights.safetensors')).tensors;
  const index = [...classify].find(([name]) => name.endsWith('relative_position_index'))![1];
  assert.equal(index.dtype, 'I64');
  assert.deepEqual(index.shape, [16, 16]);
  assert.ok(index.data instanceof Int32Array);
  assert.ok(Array.from(index.data).every((v) => Number.isInteger(v) && v >= 0));

  const outputs = readSafetensors(path.join(FIXTURES, 'pixel-pretrain/outputs.safetensors')).tensors;
  assert.equal(outputs.get('ids_keep')!.dtype, 'I64');
  assert.deepEqual(outputs.get('ids_keep')!.shape, [2, 4]);
  assert.deepEqual(outputs.get('ids_restore')!.shape, [2, 16]);
  const masks = readSafetensors(path.join(FIXTURES, 'clip-pretrain/inputs.safetensors')).tensors;
  assert.equal(masks.get('bool_masked_pos')!.dtype, 'BOOL');
  assert.deepEqual(masks.get('bool_masked_pos')!.shape, [2, 16]);
});

test('fixture re-encodes to identical tensors', () => {
  const original = readSafetensors(path.join(FIXTURES, 'classify/weights.safetensors')).tensors;
  assertSameTensors(readSafetensors(encodeSafetensors(original)).tensors, original);
});

/** A file whose header is `header` (given as text), followed by `dataBytes` zero bytes. */
function fileWithHeader(header: string, dataBytes: number): Buffer {
  const json = Buffer.from(header, 'utf8');
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([prefix, json, Buffer.alloc(dataBytes)]);
}

test('errors: truncated files name the file and the tensor', () => {
  const dir = tempDir();
  try {
    const good = encodeSafetensors([{ name: 'weight', tensor: { dtype: 'F32', shape: [4], data: new Float32Array(4) } }]);
    const cutData = path.join(dir, 'cut-data.safetensors');
    fs.writeFileSync(cutData, good.subarray(0, good.length - 3));
    assert.throws(() => readSafetensors(cutData), (e: Error) => e.message.includes(cutData) && e.message.includes("'weight'"));
    const cutHeader = path.join(dir, 'cut-header.safetensors');
    fs.writeFileSync(cutHeader, good.subarray(0, 20));
    assert.throws(() => readSafetensors(cutHeader), (e: Error) => e.message.includes(cutHeader) && /header length/.test(e.message));
    const tiny = path.join(dir, 'tiny.safetensors');
    fs.writeFileSync(tiny, good.subarray(0, 5));
    assert.throws(() => readSafetensors(tiny), /too short/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('errors: wrong headers', () => {
  assert.throws(() => readSafetensors(fileWithHeader('{"a": nope}', 0)), /not valid JSON/);
  assert.throws(() => readSafetensors(fileWithHeader('[1, 2]', 0)), /not a JSON object/);
  assert.throws(() => readSafetensors(fileWithHeader('{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}', 8)),
    (e: Error) => e.message.includes("'w'") && /needs 12 bytes/.test(e.message));
  assert.throws(() => readSafetensors(fileWithHeader('{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', 4)),
    (e: Error) => e.message.includes("'w'") && /outside/.test(e.message));
  assert.throws(() => readSafetensors(fileWithHeader('{"q":{"dtype":"I8","shape":[2],"data_offsets":[0,2]}}', 2)),
    (e: Error) => e.message.includes("'q'") && /unsupported dtype/.test(e.message));
  assert.throws(() => readSafetensors(fileWithHeader('{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}}', 0)), /invalid shape/);
  assert.throws(() => readSafetensors(fileWithHeader('{"__metadata__":{"n":3}}', 0)), /not a string/);
  const hugeLength = Buffer.alloc(16);
  hugeLength.writeBigUInt64LE(1n << 40n);
  assert.throws(() => readSafetensors(hugeLength), /bad safetensors header length/);
});

test('errors: I64 values outside int32 name the tensor', () => {
  const file = fileWithHeader('{"big":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}', 8);
  file.writeBigInt64LE(1n << 40n, file.length - 8);
  assert.throws(() => readSafetensors(file), (e: Error) => e.message.includes("'big'") && e.message.includes(String(1n << 40n)));
  assert.throws(() => decodeTensorBytes('I64', [1], new Uint8Array([0, 0, 0, 0x80, 0, 0, 0, 0]), 'idx'), /'idx'.*2147483648/);
});

test('errors: writer rejects mismatched tensors', () => {
  assert.throws(() => encodeSafetensors([{ name: 'h', tensor: { dtype: 'F16', shape: [1], data: new Int32Array(1) } }]),
    (e: Error) => e.message.includes("'h'") && /Float32Array/.test(e.message));
  assert.throws(() => encodeSafetensors([{ name: 'n', tensor: { dtype: 'F32', shape: [3], data: new Float32Array(2) } }]), /'n'.*3/);
  const t: RawTensor = { dtype: 'U8', shape: [1], data: new Uint8Array(1) };
  assert.throws(() => encodeSafetensors([{ name: 'x', tensor: t }, { name: 'x', tensor: t }]), /duplicate/);
});
