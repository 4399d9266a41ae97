// safetensors: 8-byte little-endian header length, JSON header, raw
// little-endian row-major tensor bytes (offsets relative to the data start).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { openByteSource } from './byte_source';
import {
  DTYPE_ITEM_SIZE, FileDType, RawTensor, checkRawTensor, decodeTensorBytes, encodeTensorBytes, isFileDType, numelOf,
} from './raw_tensor';

export interface SafetensorsContents {
  tensors: Map<string, RawTensor>;
  metadata: Record<string, string>;
}

export type SafetensorsEntries = Array<{ name: string; tensor: RawTensor }> | Map<string, RawTensor>;

const METADATA_KEY = '__metadata__';
// The reference implementation refuses headers above 100 MB; anything larger is garbage, not a header.
const MAX_HEADER_BYTES = 100 * 1024 * 1024;

interface HeaderEntry {
  dtype: FileDType;
  shape: number[];
  begin: number;
  end: number;
}

function parseHeader(label: string, headerBytes: Uint8Array, dataBytes: number): { entries: Map<string, HeaderEntry>; metadata: Record<string, string> } {
  let header: unknown;
  try {
    header = JSON.parse(Buffer.from(headerBytes.buffer, headerBytes.byteOffset, headerBytes.byteLength).toString('utf8'));
  } catch (error) {
    throw new Error(`${label}: safetensors header is not valid JSON (${(error as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    throw new Error(`${label}: safetensors header is not a JSON object`);
  }
  const metadata: Record<string, string> = {};
  const entries = new Map<string, HeaderEntry>();
  for (const [name, value] of Object.entries(header as Record<string, unknown>)) {
    if (name === METADATA_KEY) {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error(`${label}: __metadata__ is not an object`);
      for (const [key, text] of Object.entries(value as Record<string, unknown>)) {
        if (typeof text !== 'string') throw new Error(`${label}: __metadata__ value for '${key}' is not a string`);
        metadata[key] = text;
      }
      continue;
    }
    const where = `${label}: tensor '${name}'`;
    if (typeof value !== 'object' || value === null) throw new Error(`${where}: header entry is not an object`);
    const { dtype, shape, data_offsets: offsets } = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (!isFileDType(dtype)) throw new Error(`${where}: unsupported dtype ${JSON.stringify(dtype)}`);
    if (!Array.isArray(shape) || !shape.every((size) => Number.isSafeInteger(size) && size >= 0)) {
      throw new Error(`${where}: invalid shape ${JSON.stringify(shape)}`);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
      throw new Error(`${where}: invalid data_offsets ${JSON.stringify(offsets)}`);
    }
    const [begin, end] = offsets as number[];
    if (begin > end || end > dataBytes) {
      throw new Error(`${where}: data_offsets [${begin}, ${end}] fall outside the ${dataBytes} data bytes of the file`);
    }
    const expectedBytes = numelOf(shape) * DTYPE_ITEM_SIZE[dtype];
    if (end - begin !== expectedBytes) {
      throw new Error(`${where}: ${dtype} shape [${shape.join(', ')}] needs ${expectedBytes} bytes but data_offsets span ${end - begin}`);
    }
    entries.set(name, { dtype, shape: shape as number[], begin, end });
  }
  return { entries, metadata };
}

/** Reads a safetensors file (or its bytes). Errors name the file and the tensor. */
export function readSafetensors(pathOrBuffer: string | Uint8Array): SafetensorsContents {
  const source = openByteSource(pathOrBuffer);
  try {
    const label = source.label;
    if (source.size < 8) throw new Error(`${label}: too short for a safetensors file (${source.size} bytes)`);
    const lengthBytes = source.read(0, 8);
    const headerLength = Number(Buffer.from(lengthBytes.buffer, lengthBytes.byteOffset, 8).readBigUInt64LE(0));
    if (headerLength < 2 || headerLength > MAX_HEADER_BYTES || 8 + headerLength > source.size) {
      throw new Error(`${label}: bad safetensors header length ${headerLength} (file is ${source.size} bytes); truncated or not a safetensors file`);
    }
    const dataStart = 8 + headerLength;
    const { entries, metadata } = parseHeader(label, source.read(8, headerLength), source.size - dataStart);
    const tensors = new Map<string, RawTensor>();
    for (const [name, entry] of entries) {
      const bytes = source.read(dataStart + entry.begin, entry.end - entry.begin);
      try {
        tensors.set(name, decodeTensorBytes(entry.dtype, entry.shape, bytes, name));
      } catch (error) {
        throw new Error(`${label}: ${(error as Error).message}`);
      }
    }
    return { tensors, metadata };
  } finally {
    source.close();
  }
}

function entryList(entries: SafetensorsEntries): Array<{ name: string; tensor: RawTensor }> {
  return entries instanceof Map ? [...entries].map(([name, tensor]) => ({ name, tensor })) : entries;
}

/** The header (padded to 8 bytes) and the encoded tensor bytes, in file order. */
function layoutFile(entries: SafetensorsEntries, metadata?: Record<string, string>): { header: Buffer; chunks: Uint8Array[] } {
  // No prototype, so a tensor named '__proto__' is just a key.
  const header: Record<string, unknown> = Object.create(null);
  if (metadata && Object.keys(metadata).length > 0) {
    for (const [key, value] of Object.entries(metadata)) {
      if (typeof value !== 'string') throw new Error(`safetensors metadata '${key}' must be a string`);
    }
    header[METADATA_KEY] = metadata;
  }
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const { name, tensor } of entryList(entries)) {
    if (name === METADATA_KEY) throw new Error(`safetensors: '${METADATA_KEY}' cannot be a tensor name`);
    if (Object.prototype.hasOwnProperty.call(header, name)) throw new Error(`safetensors: duplicate tensor name '${name}'`);
    checkRawTensor(name, tensor);
    const bytes = encodeTensorBytes(tensor, name);
    header[name] = { dtype: tensor.dtype, shape: tensor.shape, data_offsets: [offset, offset + bytes.byteLength] };
    chunks.push(bytes);
    offset += bytes.byteLength;
  }
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  // Pad with spaces (valid JSON whitespace) so the data starts 8-byte aligned.
  const paddedLength = Math.ceil(json.byteLength / 8) * 8;
  const prefix = Buffer.alloc(8 + paddedLength, 0x20);
  prefix.writeBigUInt64LE(BigInt(paddedLength), 0);
  json.copy(prefix, 8);
  return { header: prefix, chunks };
}

/** The bytes of a safetensors file, in memory. */
export function encodeSafetensors(entries: SafetensorsEntries, metadata?: Record<string, string>): Buffer {
  const { header, chunks } = layoutFile(entries, metadata);
  return Buffer.concat([header, ...chunks]);
}

/**
 * Writes a safetensors file atomically: a temp file beside the target is
 * written and fsynced, then renamed over it, so readers never see half a file.
 */
export function writeSafetensors(filePath: string, entries: SafetensorsEntries, metadata?: Record<string, string>): void {
  const { header, chunks } = layoutFile(entries, metadata);
  const tempPath = `${filePath}.tmp-${process.pid}`;
  const fd = fs.openSync(tempPath, 'w');
  try {
    for (const chunk of [header, ...chunks]) {
      let written = 0;
      while (written < chunk.byteLength) written += fs.writeSync(fd, chunk, written, chunk.byteLength - written);
    }
    fs.fsyncSync(fd);
  } catch (error) {
    fs.closeSync(fd);
    fs.rmSync(tempPath, { force: true });
    throw error;
  }
  fs.closeSync(fd);
  try {
    fs.renameSync(tempPath, filePath);
  } catch (error) {
    fs.rmSync(tempPath, { force: true });
    throw error;
  }
  syncDirectory(path.dirname(path.resolve(filePath)));
}

// Makes the rename itself durable; not possible on every platform, so best effort.
function syncDirectory(directory: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(directory, 'r');
    fs.fsyncSync(fd);
  } catch {
    // Directories cannot be opened/fsynced on some platforms (e.g. Windows).
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}
