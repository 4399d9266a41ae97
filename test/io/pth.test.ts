import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { readPth, readPthStateDict } from '../../src/io/pth';
import { readSafetensors } from '../../src/io/safetensors';
import { unpickle, decodeLong } from '../../src/io/pickle_vm';
import { RawTensor, materializeStrided } from '../../src/io/raw_tensor';

const FIXTURES = path.resolve(__dirname, '../../../test/fixtures');

// ---------------------------------------------------------------------------
// Hand-written pickle streams (the opcodes torch.save emits).

type Bytes = number[];
const op = (char: string): Bytes => [char.charCodeAt(0)];
const u32 = (n: number): Bytes => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
const str = (text: string): Bytes => { const b = [...Buffer.from(text, 'utf8')]; return [...op('X'), ...u32(b.length), ...b]; };
const int = (n: number): Bytes => [...op('J'), ...u32(n)];
const global = (module: string, name: string): Bytes => [...op('c'), ...Buffer.from(`${module}\n${name}\n`, 'latin1')];
const tuple = (...items: Bytes[]): Bytes => [...op('('), ...items.flat(), ...op('t')];
const PROTO2: Bytes = [0x80, 2];
const STOP = op('.');
const NEWFALSE: Bytes = [0x89];
const emptyOrderedDict = (): Bytes => [...global('collections', 'OrderedDict'), ...op(')'), ...op('R')];
/** dict built with EMPTY_DICT + SETITEMS from [key, value] pairs. */
const dict = (pairs: Array<[string, Bytes]>): Bytes => [...op('}'), ...op('('), ...pairs.flatMap(([k, v]) => [...str(k), ...v]), ...op('u')];

function tensorPickle(storageType: string, key: string, numel: number, offset: number, size: number[], stride: number[]): Bytes {
  const storage = [...tuple(str('storage'), global('torch', storageType), str(key), str('cpu'), int(numel)), ...op('Q')];
  const args = tuple(storage, int(offset), tuple(...size.map(int)), tuple(...stride.map(int)), NEWFALSE, emptyOrderedDict());
  return [...global('torch._utils', '_rebuild_tensor_v2'), ...args, ...op('R')];
}

function parameterPickle(tensor: Bytes): Bytes {
  return [...global('torch._utils', '_rebuild_parameter'), ...tuple(tensor, [0x88], emptyOrderedDict()), ...op('R')];
}

// ---------------------------------------------------------------------------
// A small zip writer (STORED/DEFLATE, optional zip64 records), enough to build torch archives.

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();
function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

interface ZipInput { name: string; data: Uint8Array; deflate?: boolean }

function buildZip(inputs: ZipInput[], options: { zip64?: boolean } = {}): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const input of inputs) {
    const name = Buffer.from(input.name, 'utf8');
    const stored = input.deflate ? zlib.deflateRawSync(input.data) : Buffer.from(input.data);
    const crc = crc32(input.data);
    // torch pads the local extra field for alignment; the reader must use the local length, not the central one.
    const padding = Buffer.alloc(4 + 13);
    padding.writeUInt16LE(0x4b46, 0);
    padding.writeUInt16LE(13, 2);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(input.deflate ? 8 : 0, 8);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(stored.length, 18);
    local.writeUInt32LE(input.data.length, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(padding.length, 28);
    const localBytes = Buffer.concat([local, name, padding, stored]);

    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(45, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(input.deflate ? 8 : 0, 10);
    central.writeUInt32LE(crc, 16);
    central.writeUInt16LE(name.length, 28);
    let extra = Buffer.alloc(0);
    if (options.zip64) {
      central.writeUInt32LE(0xffffffff, 20);
      central.writeUInt32LE(0xffffffff, 24);
      central.writeUInt32LE(0xffffffff, 42);
      extra = Buffer.alloc(4 + 24);
      extra.writeUInt16LE(0x0001, 0);
      extra.writeUInt16LE(24, 2);
      extra.writeBigUInt64LE(BigInt(input.data.length), 4);
      extra.writeBigUInt64LE(BigInt(stored.length), 12);
      extra.writeBigUInt64LE(BigInt(offset), 20);
    } else {
      central.writeUInt32LE(stored.length, 20);
      central.writeUInt32LE(input.data.length, 24);
      central.writeUInt32LE(offset, 42);
    }
    central.writeUInt16LE(extra.length, 30);
    centrals.push(Buffer.concat([central, name, extra]));
    locals.push(localBytes);
    offset += localBytes.length;
  }
  const directory = Buffer.concat(centrals);
  const tail: Buffer[] = [];
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  if (options.zip64) {
    const record = Buffer.alloc(56);
    record.writeUInt32LE(0x06064b50, 0);
    record.writeBigUInt64LE(44n, 4);
    record.writeBigUInt64LE(BigInt(inputs.length), 24);
    record.writeBigUInt64LE(BigInt(inputs.length), 32);
    record.writeBigUInt64LE(BigInt(directory.length), 40);
    record.writeBigUInt64LE(BigInt(offset), 48);
    const locator = Buffer.alloc(20);
    locator.writeUInt32LE(0x07064b50, 0);
    locator.writeBigUInt64LE(BigInt(offset + directory.length), 8);
    locator.writeUInt32LE(1, 16);
    tail.push(record, locator);
    eocd.writeUInt16LE(0xffff, 8);
    eocd.writeUInt16LE(0xffff, 10);
    eocd.writeUInt32LE(0xffffffff, 12);
    eocd.writeUInt32LE(0xffffffff, 16);
  } else {
    eocd.writeUInt16LE(inputs.length, 8);
    eocd.writeUInt16LE(inputs.length, 10);
    eocd.writeUInt32LE(directory.length, 12);
    eocd.writeUInt32LE(offset, 16);
  }
  return Buffer.concat([...locals, directory, ...tail, eocd]);
}

function torchArchive(pickle: Bytes, storages: Record<string, Uint8Array>, options: { zip64?: boolean; deflate?: boolean } = {}): Buffer {
  const inputs: ZipInput[] = [{ name: 'archive/data.pkl', data: Uint8Array.from(pickle) }];
  for (const [key, data] of Object.entries(storages)) inputs.push({ name: `archive/data/${key}`, data, deflate: options.deflate });
  inputs.push({ name: 'archive/version', data: Buffer.from('3\n') });
  return buildZip(inputs, options);
}

const bytesOf = (array: Float32Array | Float64Array | Int32Array | Uint8Array | Uint16Array | BigInt64Array): Uint8Array =>
  new Uint8Array(array.buffer, array.byteOffset, array.byteLength);

function tensorValues(value: unknown): number[] {
  return Array.from((value as RawTensor).data);
}

// ---------------------------------------------------------------------------

test('weights.pth equals weights.safetensors exactly', () => {
  const folder = path.join(FIXTURES, 'pixel-pretrain');
  const fromPth = readPthStateDict(path.join(folder, 'weights.pth'));
  const fromSafetensors = readSafetensors(path.join(folder, 'weights.safetensors')).tensors;
  assert.equal(fromPth.size, fromSafetensors.size);
  for (const [name, expected] of fromSafetensors) {
    const actual = fromPth.get(name);
    assert.ok(actual, `missing ${name}`);
    assert.equal(actual.dtype, expected.dtype, name);
    assert.deepEqual(actual.shape, expected.shape, name);
    assert.equal(actual.data.constructor, expected.data.constructor, name);
    assert.ok(Buffer.from(bytesOf(actual.data)).equals(Buffer.from(bytesOf(expected.data))), `values of ${name}`);
  }
});

test('readPth returns the checkpoint structure', () => {
  const root = readPth(path.join(FIXTURES, 'pixel-pretrain/weights.pth'));
  assert.ok(root instanceof Map);
  assert.deepEqual([...root.keys()], ['model', 'epoch']);
  assert.equal(root.get('epoch'), 3);
  const model = root.get('model') as Map<string, RawTensor>;
  assert.deepEqual(model.get('absolute_pos_embed')!.shape, [1, 16, 64]);
  // Insertion order is the state_dict order, matching the safetensors header here.
  assert.equal([...model.keys()][0], 'absolute_pos_embed');
});

test('materializeStrided copies views into row-major order', () => {
  const source = bytesOf(new Float32Array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]));
  const view = (offset: number, shape: number[], strides: number[]) =>
    Array.from(new Float32Array(materializeStrided(source, 4, offset, shape, strides).slice().buffer));
  assert.deepEqual(view(0, [3, 4], [4, 1]), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  assert.deepEqual(view(0, [4, 3], [1, 4]), [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11]); // transpose
  assert.deepEqual(view(1, [2, 2], [4, 2]), [1, 3, 5, 7]); // offset + step
  assert.deepEqual(view(2, [2, 1, 3], [6, 99, 1]), [2, 3, 4, 8, 9, 10]); // size-1 dim with odd stride
  assert.deepEqual(view(5, [3], [0]), [5, 5, 5]); // broadcast (expand)
  assert.deepEqual(view(7, [], []), [7]);
  assert.deepEqual(view(0, [2, 0], [1, 1]), []);
  assert.deepEqual(view(0, [2, 2, 3], [1, 6, 2]), [0, 2, 4, 6, 8, 10, 1, 3, 5, 7, 9, 11]); // permuted 3-D
  assert.throws(() => view(10, [3], [1]), /reaches element 12/);
});

test('tensors with non-contiguous strides and shared storages', () => {
  const storage = bytesOf(new Float32Array([0, 1, 2, 3, 4, 5]));
  const pickle = [
    ...PROTO2,
    ...dict([
      ['transposed', tensorPickle('FloatStorage', '0', 6, 0, [3, 2], [1, 3])],
      ['sliced', tensorPickle('FloatStorage', '0', 6, 1, [2], [2])],
      ['whole', parameterPickle(tensorPickle('FloatStorage', '0', 6, 0, [2, 3], [3, 1]))],
    ]),
    ...STOP,
  ];
  for (const options of [{}, { zip64: true }, { deflate: true }]) {
    const root = readPth(torchArchive(pickle, { 0: storage }, options)) as Map<string, RawTensor>;
    assert.deepEqual(root.get('transposed')!.shape, [3, 2]);
    assert.deepEqual(tensorValues(root.get('transposed')), [0, 3, 1, 4, 2, 5], JSON.stringify(options));
    assert.deepEqual(tensorValues(root.get('sliced')), [1, 3]);
    assert.deepEqual(tensorValues(root.get('whole')), [0, 1, 2, 3, 4, 5]);
    assert.notEqual(root.get('whole')!.data, root.get('transposed')!.data, 'views get their own arrays');
  }
  // Same archive from a file: storages are then read by byte range.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'itpn-pth-'));
  try {
    const file = path.join(dir, 'views.pth');
    fs.writeFileSync(file, torchArchive(pickle, { 0: storage }, { zip64: true }));
    const root = readPth(file) as Map<string, RawTensor>;
    assert.deepEqual(tensorValues(root.get('transposed')), [0, 3, 1, 4, 2, 5]);
    assert.deepEqual(tensorValues(root.get('sliced')), [1, 3]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('storage dtypes decode like safetensors', () => {
  const halves = new Uint16Array([0x3c00, 0xc100, 0x7bff]);
  const bf16 = new Uint16Array([0x3f80, 0xc020]);
  const pickle = [
    ...PROTO2,
    ...dict([
      ['half', tensorPickle('HalfStorage', 'h', 3, 0, [3], [1])],
      ['bf16', tensorPickle('BFloat16Storage', 'b', 2, 0, [2], [1])],
      ['double', tensorPickle('DoubleStorage', 'd', 2, 0, [2], [1])],
      ['long', tensorPickle('LongStorage', 'l', 3, 0, [3, 1], [1, 1])],
      ['int', tensorPickle('IntStorage', 'i', 2, 0, [2], [1])],
      ['bool', tensorPickle('BoolStorage', 'z', 3, 0, [3], [1])],
      ['byte', tensorPickle('ByteStorage', 'u', 2, 1, [1], [1])],
      ['empty', tensorPickle('FloatStorage', 'e', 0, 0, [0, 4], [4, 1])],
    ]),
    ...STOP,
  ];
  const archive = torchArchive(pickle, {
    h: bytesOf(halves), b: bytesOf(bf16), d: bytesOf(new Float64Array([Math.PI, -1e300])),
    l: bytesOf(new BigInt64Array([-5n, 0n, 2147483647n])), i: bytesOf(new Int32Array([-1, 7])),
    z: new Uint8Array([1, 0, 1]), u: new Uint8Array([9, 200]), e: new Uint8Array(0),
  });
  const root = readPth(archive) as Map<string, RawTensor>;
  const expect = (name: string, dtype: string, values: number[]) => {
    assert.equal(root.get(name)!.dtype, dtype, name);
    assert.deepEqual(tensorValues(root.get(name)), values, name);
  };
  expect('half', 'F16', [1, -2.5, 65504]);
  expect('bf16', 'BF16', [1, -2.5]);
  expect('double', 'F64', [Math.PI, -1e300]);
  expect('long', 'I64', [-5, 0, 2147483647]);
  expect('int', 'I32', [-1, 7]);
  expect('bool', 'BOOL', [1, 0, 1]);
  expect('byte', 'U8', [200]);
  expect('empty', 'F32', []);
  assert.deepEqual(root.get('empty')!.shape, [0, 4]);
});

test('readPthStateDict unwraps model/module/state_dict and strips module.', () => {
  const storage = { 0: bytesOf(new Float32Array([1, 2])), 1: bytesOf(new Float32Array([3, 4])) };
  const t0 = tensorPickle('FloatStorage', '0', 2, 0, [2], [1]);
  const t1 = tensorPickle('FloatStorage', '1', 2, 0, [2], [1]);
  // 'module' wins over 'state_dict'; OrderedDict built by REDUCE then SETITEMS, as torch does.
  const orderedState = [...emptyOrderedDict(), ...op('('), ...str('module.a'), ...t0, ...str('module.b'), ...t1, ...op('u')];
  const preferModule = [...PROTO2, ...dict([['state_dict', dict([['x', t0]])], ['module', orderedState], ['epoch', int(1)]]), ...STOP];
  const weights = readPthStateDict(torchArchive(preferModule, storage));
  assert.deepEqual([...weights.keys()], ['a', 'b']);
  assert.deepEqual(tensorValues(weights.get('b')), [3, 4]);

  const bare = [...PROTO2, ...dict([['w', t0]]), ...STOP];
  assert.deepEqual([...readPthStateDict(torchArchive(bare, storage)).keys()], ['w']);

  const notWeights = [...PROTO2, ...dict([['w', t0], ['epoch', int(2)]]), ...STOP];
  assert.throws(() => readPthStateDict(torchArchive(notWeights, storage)), /not a state dict/);
});

test('allow-listed metadata globals (argparse.Namespace, numpy scalars) become inert objects', () => {
  const pickle = [
    ...PROTO2,
    ...dict([
      ['args', [...global('argparse', 'Namespace'), ...op(')'), 0x81, ...dict([['lr', int(5)]]), ...op('b')]],
      ['fn', [...global('numpy.core.multiarray', 'scalar'), ...tuple(str('x')), ...op('R')]],
    ]),
    ...STOP,
  ];
  const root = readPth(torchArchive(pickle, {})) as Map<string, unknown>;
  const args = root.get('args') as { __global__: string; args: unknown[]; state: Map<string, unknown> };
  assert.equal(args.__global__, 'argparse.Namespace');
  assert.deepEqual(args.args, []);
  assert.equal(args.state.get('lr'), 5);
  assert.deepEqual(root.get('fn'), { __global__: 'numpy.core.multiarray.scalar', args: ['x'] });
});

test('pickle VM: protocol 4 opcodes, numbers and memo', () => {
  const short = (text: string): Bytes => [0x8c, Buffer.byteLength(text), ...Buffer.from(text)]; // SHORT_BINUNICODE
  const frameBody: Bytes = [
    ...op(']'), 0x94, // EMPTY_LIST, MEMOIZE → memo 0
    ...op('('),
    0x4b, 7, 0x4d, 0x34, 0x12, ...int(-2 >>> 0), // BININT1 7, BININT2 0x1234, BININT -2
    0x8a, 9, 0, 0, 0, 0, 0, 0, 0, 0x80, 0, // LONG1: 2^63 as 9 bytes
    0x8a, 1, 0xff, // LONG1 -1
    0x8a, 0, // LONG1 0
    ...op('G'), ...Buffer.from(new Uint8Array([0x3f, 0xf8, 0, 0, 0, 0, 0, 0])), // BINFLOAT 1.5 (big-endian)
    ...short('héllo'),
    0x8d, ...u32(2), 0, 0, 0, 0, ...Buffer.from('hi'), // BINUNICODE8
    ...op('C'), 2, 1, 2, // SHORT_BINBYTES
    ...short('builtins'), ...short('print'), 0x93, // STACK_GLOBAL
    0x88, 0x89, ...op('N'), // True False None
    ...op(')'), 0x4b, 1, 0x85, // EMPTY_TUPLE, then (1,) via BININT1 + TUPLE1
    ...op('h'), 0, // BINGET 0: the list itself
    ...op('e'), // APPENDS
    ...op('.'),
  ];
  const stream = [0x80, 4, 0x95, ...u32(frameBody.length), 0, 0, 0, 0, ...frameBody];
  const result = unpickle(Uint8Array.from(stream)) as unknown[];
  assert.equal(result[0], 7);
  assert.equal(result[1], 0x1234);
  assert.equal(result[2], -2);
  assert.equal(result[3], 2n ** 63n);
  assert.equal(result[4], -1);
  assert.equal(result[5], 0);
  assert.equal(result[6], 1.5);
  assert.equal(result[7], 'héllo');
  assert.equal(result[8], 'hi');
  assert.deepEqual(result[9], new Uint8Array([1, 2]));
  assert.equal((result[10] as { qualifiedName: string }).qualifiedName, 'builtins.print');
  assert.deepEqual(result.slice(11, 14), [true, false, null]);
  assert.deepEqual(result[14], []);
  assert.deepEqual(result[15], [1]);
  assert.equal(result[16], result, 'memoised reference is the same object');
  assert.equal(decodeLong(Uint8Array.from([0x00, 0x80])), -32768);
});

test('errors: unknown opcode, legacy format, not a checkpoint, truncation, missing storage', () => {
  assert.throws(() => unpickle(Uint8Array.from([0x80, 2, 0xff])), (e: Error) => /opcode 0xff/.test(e.message) && /at byte 2/.test(e.message));
  assert.throws(() => unpickle(Uint8Array.from([0x80, 2, 0x4a, 1])), /truncated/);
  assert.throws(() => unpickle(Uint8Array.from([0x80, 2, 0x68, 3, 0x2e])), /memo key 3/);

  // Legacy (pre-1.6) files start with a pickled magic number, not a zip header.
  const legacy = Uint8Array.from([0x80, 2, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e]);
  assert.throws(() => readPth(legacy), /legacy torch\.save format not supported; re-save with torch>=1\.6/);
  // Anything else (an HTML page saved as .pth, a truncated download) is named for what it is, with its first bytes.
  const html = new TextEncoder().encode('<!DOCTYPE html><html>');
  assert.throws(() => readPth(html), /not a PyTorch checkpoint \(neither a torch\.save zip archive nor the legacy pickle format; 21 bytes, starting 3c 21 44 4f 43 54 59 50\)/);
  assert.throws(() => readPth(new Uint8Array(0)), /0 bytes, starting \(empty\)/);

  const fixture = fs.readFileSync(path.join(FIXTURES, 'pixel-pretrain/weights.pth'));
  assert.throws(() => readPth(fixture.subarray(0, fixture.length - 200)), /zip|outside|central directory/);
  if (typeof (zlib as { crc32?: unknown }).crc32 === 'function') {
    const corrupt = Buffer.from(fixture);
    corrupt[2000] ^= 0xff; // inside data.pkl
    assert.throws(() => readPth(corrupt), /'weights\/data\.pkl' fails its CRC-32 check/);
  }

  const pickle = [...PROTO2, ...dict([['w', tensorPickle('FloatStorage', '9', 4, 0, [4], [1])]]), ...STOP];
  assert.throws(() => readPth(torchArchive(pickle, {})), /missing zip entry 'archive\/data\/9'/);
  assert.throws(() => readPth(torchArchive(pickle, { 9: new Uint8Array(8) })), /need 16/);
  const tooFar = [...PROTO2, ...dict([['w', tensorPickle('FloatStorage', '0', 2, 1, [2], [1])]]), ...STOP];
  assert.throws(() => readPth(torchArchive(tooFar, { 0: new Uint8Array(8) })), /reaches element 2/);
  const unsupported = [...PROTO2, ...dict([['w', tensorPickle('ComplexFloatStorage', '0', 1, 0, [1], [1])]]), ...STOP];
  assert.throws(() => readPth(torchArchive(unsupported, { 0: new Uint8Array(8) })), /ComplexFloatStorage is not supported/);
});

test('a pickle naming any other global (os.system) is refused before anything runs', () => {
  for (const [module, name] of [['os', 'system'], ['builtins', 'eval'], ['subprocess', 'Popen'], ['torch', 'load']]) {
    const pickle = [...PROTO2, ...global(module, name), ...tuple(str('touch /tmp/itpn-pwned')), ...op('R'), ...STOP];
    assert.throws(() => readPth(torchArchive(pickle, {})), new RegExp(`refusing pickle global '${module}\\.${name}'`));
  }
});
