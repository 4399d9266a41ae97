// Reader for torch.save files in the zip format (PyTorch >= 1.6):
// `<archive>/data.pkl` is a pickle whose tensors point, through persistent ids,
// at raw little-endian storages in `<archive>/data/<key>`.
import { ByteSource, openByteSource } from './byte_source';
import { PickleGlobal, makeOpaque, unpickle } from './pickle_vm';
import {
  DTYPE_ITEM_SIZE, FileDType, RawTensor, decodeTensorBytes, isRawTensor, materializeStrided, numelOf,
} from './raw_tensor';
import { ZipArchive } from './zip_reader';

/** A storage persistent id, resolved lazily: tensors read only the bytes their view covers. */
export interface PthStorageRef {
  __storage__: string; // the torch storage class, e.g. 'FloatStorage'
  dtype: FileDType | undefined; // undefined for storage classes this reader cannot decode
  key: string;
  location: string;
  numel: number;
}

const STORAGE_DTYPES: Readonly<Record<string, FileDType>> = {
  FloatStorage: 'F32', HalfStorage: 'F16', BFloat16Storage: 'BF16', DoubleStorage: 'F64',
  LongStorage: 'I64', IntStorage: 'I32', BoolStorage: 'BOOL', ByteStorage: 'U8',
};

const LEGACY_FORMAT_MESSAGE = 'legacy torch.save format not supported; re-save with torch>=1.6';

function isStorageRef(value: unknown): value is PthStorageRef {
  return typeof value === 'object' && value !== null && typeof (value as PthStorageRef).__storage__ === 'string';
}

function isIntegerList(value: unknown): value is number[] {
  return Array.isArray(value) && value.every((v) => Number.isSafeInteger(v) && v >= 0);
}

function swapByteOrder(bytes: Uint8Array, itemSize: number): void {
  for (let start = 0; start < bytes.byteLength; start += itemSize) {
    for (let i = 0, j = itemSize - 1; i < j; i++, j--) {
      const t = bytes[start + i];
      bytes[start + i] = bytes[start + j];
      bytes[start + j] = t;
    }
  }
}

class TorchArchiveLoader {
  private readonly prefix: string;
  private readonly bigEndian: boolean;

  constructor(private readonly zip: ZipArchive) {
    const pickles = [...zip.entries.keys()].filter((name) => /^[^/]+\/data\.pkl$/.test(name));
    if (pickles.length !== 1) {
      throw new Error(`${zip.label}: expected one '<archive>/data.pkl' entry, found ${pickles.length}; not a torch.save file?`);
    }
    this.prefix = pickles[0].slice(0, -'data.pkl'.length);
    const byteOrderName = `${this.prefix}byteorder`;
    const byteOrder = zip.entries.has(byteOrderName) ? Buffer.from(zip.read(byteOrderName)).toString('utf8').trim() : 'little';
    if (byteOrder !== 'little' && byteOrder !== 'big') throw new Error(`${zip.label}: unknown byteorder '${byteOrder}'`);
    this.bigEndian = byteOrder === 'big';
  }

  load(): unknown {
    return unpickle(this.zip.read(`${this.prefix}data.pkl`), {
      label: `${this.zip.label}: data.pkl`,
      findGlobal: (module, name) => {
        const qualified = `${module}.${name}`;
        if (!isAllowedGlobal(qualified)) {
          throw new Error(`${this.zip.label}: refusing pickle global '${qualified}': only the tensor/container types torch.save writes are allowed (nothing in the file is ever executed)`);
        }
        return new PickleGlobal(module, name);
      },
      call: (callable, args) => this.call(callable, args),
      persistentLoad: (pid) => this.persistentLoad(pid),
    });
  }

  private call(callable: unknown, args: unknown[]): unknown {
    // Only allow-listed globals reach here (findGlobal); the data-only ones become opaque records.
    const name = callable instanceof PickleGlobal ? callable.qualifiedName : '';
    switch (name) {
      case 'collections.OrderedDict': {
        const map = new Map<unknown, unknown>();
        // OrderedDict(pairs) form; torch's own pickles pass no args and fill it with SETITEMS.
        if (Array.isArray(args[0])) for (const pair of args[0]) if (Array.isArray(pair)) map.set(pair[0], pair[1]);
        return map;
      }
      case 'torch._utils._rebuild_tensor':
      case 'torch._utils._rebuild_tensor_v2':
        return this.rebuildTensor(args);
      case 'torch._utils._rebuild_parameter':
      case 'torch._utils._rebuild_parameter_with_state':
        if (!isRawTensor(args[0])) throw new Error(`${this.zip.label}: ${name} got no tensor`);
        return args[0];
      case 'torch.serialization._get_layout':
        return args[0]; // e.g. 'torch.strided'; tensors here are always strided
      case '_codecs.encode':
        // How protocol 2 pickles `bytes`: _codecs.encode(text, 'latin1').
        if (typeof args[0] === 'string') return new Uint8Array(Buffer.from(args[0], 'latin1'));
        return makeOpaque(callable, args);
      default:
        return makeOpaque(callable, args);
    }
  }

  private persistentLoad(pid: unknown): PthStorageRef {
    if (!Array.isArray(pid) || pid[0] !== 'storage' || pid.length < 5) {
      throw new Error(`${this.zip.label}: unsupported persistent id ${JSON.stringify(pid)}`);
    }
    const [, storageType, key, location, numel] = pid;
    const typeName = storageType instanceof PickleGlobal ? storageType.name : String(storageType);
    if (typeof key !== 'string' || !Number.isSafeInteger(numel)) {
      throw new Error(`${this.zip.label}: malformed storage persistent id for key ${String(key)}`);
    }
    return { __storage__: typeName, dtype: STORAGE_DTYPES[typeName], key, location: String(location), numel: numel as number };
  }

  /** _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata]). */
  private rebuildTensor(args: unknown[]): RawTensor {
    const [storage, storageOffset, size, stride] = args;
    if (!isStorageRef(storage)) throw new Error(`${this.zip.label}: tensor rebuilt from something that is not a storage`);
    const where = `${this.zip.label}: tensor on storage '${storage.key}'`;
    if (!Number.isSafeInteger(storageOffset) || (storageOffset as number) < 0 || !isIntegerList(size) || !isIntegerList(stride) || size.length !== stride.length) {
      throw new Error(`${where}: malformed offset/size/stride`);
    }
    const dtype = storage.dtype;
    if (!dtype) throw new Error(`${where}: storage type ${storage.__storage__} is not supported`);
    const itemSize = DTYPE_ITEM_SIZE[dtype];
    const offset = storageOffset as number;
    const label = `storage ${storage.key} (${storage.__storage__})`;
    if (numelOf(size) === 0) return decodeTensorBytes(dtype, size, new Uint8Array(0), label);

    let lastIndex = offset;
    for (let d = 0; d < size.length; d++) lastIndex += (size[d] - 1) * stride[d];
    if (lastIndex >= storage.numel) {
      throw new Error(`${where}: view reaches element ${lastIndex} of a storage of ${storage.numel}`);
    }
    const entryName = `${this.prefix}data/${storage.key}`;
    const entry = this.zip.entries.get(entryName);
    if (!entry) throw new Error(`${where}: missing zip entry '${entryName}'`);
    if (entry.uncompressedSize !== storage.numel * itemSize) {
      throw new Error(`${where}: entry has ${entry.uncompressedSize} bytes, ${storage.numel} ${dtype} elements need ${storage.numel * itemSize}`);
    }
    // Read only the span the view touches; a view of the whole storage goes through the CRC-checked read.
    const spanStart = offset * itemSize;
    const spanLength = (lastIndex - offset + 1) * itemSize;
    const span = spanStart === 0 && spanLength === entry.uncompressedSize
      ? this.zip.read(entryName)
      : this.zip.readRange(entryName, spanStart, spanLength);
    const rowMajor = materializeStrided(span, itemSize, 0, size, stride);
    if (this.bigEndian) swapByteOrder(rowMajor, itemSize);
    return decodeTensorBytes(dtype, size, rowMajor, label);
  }
}

function openTorchArchive(source: ByteSource): ZipArchive {
  if (ZipArchive.isZip(source)) return new ZipArchive(source);
  // torch.save before 1.6 wrote a bare pickle stream, which opens with the PROTO opcode 0x80; anything else is not a
  // PyTorch file at all (a truncated download, an HTML error page, another format)
  if (source.size >= 2 && source.read(0, 1)[0] === 0x80) throw new Error(`${source.label}: ${LEGACY_FORMAT_MESSAGE}`);
  const head = source.read(0, Math.min(8, source.size));
  throw new Error(`${source.label}: not a PyTorch checkpoint (neither a torch.save zip archive nor the legacy pickle format; ` +
    `${source.size} bytes, starting ${[...head].map((b) => b.toString(16).padStart(2, '0')).join(' ') || '(empty)'})`);
}

/**
 * Loads a torch.save file. Dicts and OrderedDicts become Maps (insertion order kept),
 * lists and tuples arrays, tensors RawTensors; other Python objects become
 * `{__global__, args}` placeholders.
 */
export function readPth(pathOrBuffer: string | Uint8Array): unknown {
  const source = openByteSource(pathOrBuffer);
  try {
    return new TorchArchiveLoader(openTorchArchive(source)).load();
  } finally {
    source.close();
  }
}

const STATE_DICT_KEYS = ['model', 'module', 'state_dict'] as const;

function allValuesAreTensors(map: Map<unknown, unknown>): boolean {
  for (const value of map.values()) if (!isRawTensor(value)) return false;
  return map.size > 0;
}

/**
 * Loads the model weights of a checkpoint the way the official iTPN code does:
 * the `model`, `module` or `state_dict` entry (first found), else the top-level
 * dict when it holds only tensors; a leading `module.` (DataParallel/DDP) is stripped.
 */
export function readPthStateDict(pathOrBuffer: string | Uint8Array): Map<string, RawTensor> {
  const label = typeof pathOrBuffer === 'string' ? pathOrBuffer : '<buffer>';
  const root = readPth(pathOrBuffer);
  if (!(root instanceof Map)) throw new Error(`${label}: checkpoint is not a dict`);
  let stateDict: Map<unknown, unknown> | undefined;
  for (const key of STATE_DICT_KEYS) {
    if (root.has(key)) {
      const value = root.get(key);
      if (!(value instanceof Map)) throw new Error(`${label}: checkpoint['${key}'] is not a dict`);
      stateDict = value;
      break;
    }
  }
  if (!stateDict) {
    if (!allValuesAreTensors(root)) {
      throw new Error(`${label}: no 'model', 'module' or 'state_dict' entry, and the top-level dict is not a state dict (keys: ${[...root.keys()].slice(0, 10).join(', ')})`);
    }
    stateDict = root;
  }
  const weights = new Map<string, RawTensor>();
  for (const [key, value] of stateDict) {
    if (typeof key !== 'string') throw new Error(`${label}: state dict key ${String(key)} is not a string`);
    if (!isRawTensor(value)) throw new Error(`${label}: state dict entry '${key}' is not a tensor`);
    const name = key.startsWith('module.') ? key.slice('module.'.length) : key;
    if (weights.has(name)) throw new Error(`${label}: '${name}' appears twice once the 'module.' prefix is removed`);
    weights.set(name, value);
  }
  return weights;
}

/**
 * Globals a torch.save checkpoint may name. The tensor machinery is interpreted; the rest (training-script
 * metadata such as argparse.Namespace or numpy scalars stored next to the weights) is kept as inert data.
 */
const ALLOWED_GLOBALS = new Set([
  'collections.OrderedDict',
  'torch._utils._rebuild_tensor',
  'torch._utils._rebuild_tensor_v2',
  'torch._utils._rebuild_parameter',
  'torch._utils._rebuild_parameter_with_state',
  'torch.serialization._get_layout',
  'torch.strided',
  '_codecs.encode',
  'argparse.Namespace',
  'numpy.core.multiarray.scalar',
  'numpy.core.multiarray._reconstruct',
  'numpy.dtype',
  'numpy.ndarray',
  'builtins.set',
  'builtins.frozenset',
  'builtins.slice',
]);

function isAllowedGlobal(qualified: string): boolean {
  // storage classes: torch.FloatStorage, torch.HalfStorage, torch.LongStorage, ...
  return ALLOWED_GLOBALS.has(qualified) || /^torch\.[A-Za-z0-9]+Storage$/.test(qualified);
}
