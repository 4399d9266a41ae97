// A minimal zip reader for torch.save archives: central directory (with the
// zip64 records torch writes for big files), STORED and DEFLATE entries.
import * as zlib from 'node:zlib';
import { ByteSource } from './byte_source';

export interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  uncompressedSize: number;
  crc32: number;
  localHeaderOffset: number;
}

const EOCD_SIGNATURE = 0x06054b50;
const ZIP64_LOCATOR_SIGNATURE = 0x07064b50;
const ZIP64_EOCD_SIGNATURE = 0x06064b50;
const CENTRAL_HEADER_SIGNATURE = 0x02014b50;
const LOCAL_HEADER_SIGNATURE = 0x04034b50;
const EOCD_MIN_SIZE = 22;
const MAX_COMMENT = 0xffff;
const METHOD_STORED = 0;
const METHOD_DEFLATE = 8;

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function readU64(data: DataView, offset: number, label: string): number {
  const value = data.getBigUint64(offset, true);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`${label}: zip64 value ${value} is too large`);
  return Number(value);
}

export class ZipArchive {
  readonly entries = new Map<string, ZipEntry>();
  private readonly dataOffsets = new Map<string, number>();
  private readonly inflated = new Map<string, Uint8Array>();

  constructor(private readonly source: ByteSource) {
    this.readCentralDirectory();
  }

  get label(): string {
    return this.source.label;
  }

  static isZip(source: ByteSource): boolean {
    if (source.size < 4) return false;
    return view(source.read(0, 4)).getUint32(0, true) === LOCAL_HEADER_SIGNATURE;
  }

  private fail(message: string): never {
    throw new Error(`${this.source.label}: ${message}`);
  }

  private readCentralDirectory(): void {
    const size = this.source.size;
    // The EOCD record sits at the end, followed only by a comment of up to 64 KiB.
    const tailLength = Math.min(size, EOCD_MIN_SIZE + MAX_COMMENT);
    const tailStart = size - tailLength;
    const tail = view(this.source.read(tailStart, tailLength));
    let eocd = -1;
    for (let i = tailLength - EOCD_MIN_SIZE; i >= 0; i--) {
      if (tail.getUint32(i, true) === EOCD_SIGNATURE) { eocd = i; break; }
    }
    if (eocd < 0) this.fail('not a zip archive (no end-of-central-directory record); truncated file?');

    let entryCount = tail.getUint16(eocd + 10, true);
    let directorySize = tail.getUint32(eocd + 12, true);
    let directoryOffset = tail.getUint32(eocd + 16, true);

    const locatorAt = tailStart + eocd - 20;
    const locator = locatorAt >= 0 ? view(this.source.read(locatorAt, 20)) : undefined;
    if (locator && locator.getUint32(0, true) === ZIP64_LOCATOR_SIGNATURE) {
      const zip64At = readU64(locator, 8, this.label);
      const record = view(this.source.read(zip64At, 56));
      if (record.getUint32(0, true) !== ZIP64_EOCD_SIGNATURE) this.fail('zip64 locator points at no zip64 end-of-central-directory record');
      entryCount = readU64(record, 32, this.label);
      directorySize = readU64(record, 40, this.label);
      directoryOffset = readU64(record, 48, this.label);
    }

    const directory = this.source.read(directoryOffset, directorySize);
    const data = view(directory);
    let pos = 0;
    for (let index = 0; index < entryCount; index++) {
      if (pos + 46 > directory.byteLength || data.getUint32(pos, true) !== CENTRAL_HEADER_SIGNATURE) {
        this.fail(`corrupt central directory at entry ${index}`);
      }
      const flags = data.getUint16(pos + 8, true);
      const method = data.getUint16(pos + 10, true);
      const crc32 = data.getUint32(pos + 16, true);
      let compressedSize = data.getUint32(pos + 20, true);
      let uncompressedSize = data.getUint32(pos + 24, true);
      const nameLength = data.getUint16(pos + 28, true);
      const extraLength = data.getUint16(pos + 30, true);
      const commentLength = data.getUint16(pos + 32, true);
      let localHeaderOffset = data.getUint32(pos + 42, true);
      const name = Buffer.from(directory.subarray(pos + 46, pos + 46 + nameLength)).toString('utf8');

      // Zip64 extra field: holds, in this order, only the fields saturated at 0xFFFFFFFF above.
      let extraPos = pos + 46 + nameLength;
      const extraEnd = extraPos + extraLength;
      while (extraPos + 4 <= extraEnd) {
        const id = data.getUint16(extraPos, true);
        const length = data.getUint16(extraPos + 2, true);
        if (id === 0x0001) {
          let field = extraPos + 4;
          if (uncompressedSize === 0xffffffff) { uncompressedSize = readU64(data, field, this.label); field += 8; }
          if (compressedSize === 0xffffffff) { compressedSize = readU64(data, field, this.label); field += 8; }
          if (localHeaderOffset === 0xffffffff) { localHeaderOffset = readU64(data, field, this.label); field += 8; }
        }
        extraPos += 4 + length;
      }
      if (flags & 1) this.fail(`entry '${name}' is encrypted`);
      this.entries.set(name, { name, method, compressedSize, uncompressedSize, crc32, localHeaderOffset });
      pos = extraEnd + commentLength;
    }
  }

  /** Where an entry's stored bytes begin (the local header's extra field may differ from the central one: torch pads it for alignment). */
  private dataOffset(entry: ZipEntry): number {
    let offset = this.dataOffsets.get(entry.name);
    if (offset === undefined) {
      const local = view(this.source.read(entry.localHeaderOffset, 30));
      if (local.getUint32(0, true) !== LOCAL_HEADER_SIGNATURE) this.fail(`entry '${entry.name}' has no local header`);
      offset = entry.localHeaderOffset + 30 + local.getUint16(26, true) + local.getUint16(28, true);
      this.dataOffsets.set(entry.name, offset);
    }
    return offset;
  }

  private entry(name: string): ZipEntry {
    const entry = this.entries.get(name);
    if (!entry) this.fail(`missing zip entry '${name}'`);
    return entry;
  }

  /** The whole (decompressed) content of an entry, CRC-checked where Node can compute CRC-32. */
  read(name: string): Uint8Array {
    const entry = this.entry(name);
    const cached = this.inflated.get(name);
    if (cached) return cached;
    const stored = this.source.read(this.dataOffset(entry), entry.compressedSize);
    let content: Uint8Array;
    if (entry.method === METHOD_STORED) {
      content = stored;
    } else if (entry.method === METHOD_DEFLATE) {
      content = zlib.inflateRawSync(stored);
      // Deflated entries cannot be read by range; keep them for the next slice of the same storage.
      this.inflated.set(name, content);
    } else {
      this.fail(`entry '${name}' uses unsupported compression method ${entry.method}`);
    }
    if (content.byteLength !== entry.uncompressedSize) {
      this.fail(`entry '${name}' has ${content.byteLength} bytes, the directory says ${entry.uncompressedSize}`);
    }
    const crc32 = (zlib as unknown as { crc32?: (data: Uint8Array) => number }).crc32;
    if (crc32 && crc32(content) >>> 0 !== entry.crc32) this.fail(`entry '${name}' fails its CRC-32 check; corrupt file?`);
    return content;
  }

  /** `length` bytes at `start` of an entry's content; STORED entries read only that range. */
  readRange(name: string, start: number, length: number): Uint8Array {
    const entry = this.entry(name);
    if (start < 0 || length < 0 || start + length > entry.uncompressedSize) {
      this.fail(`range [${start}, ${start + length}) is outside entry '${name}' (${entry.uncompressedSize} bytes)`);
    }
    if (entry.method === METHOD_STORED) return this.source.read(this.dataOffset(entry) + start, length);
    return this.read(name).subarray(start, start + length);
  }
}
