// Random-access bytes from a file or an in-memory buffer, so readers can pull
// just the ranges they need instead of loading a multi-GB checkpoint twice.
import * as fs from 'node:fs';

export interface ByteSource {
  /** Used in error messages: the path, or '<buffer>'. */
  readonly label: string;
  readonly size: number;
  /** Exactly `length` bytes at `offset`; throws when the range leaves the source. */
  read(offset: number, length: number): Uint8Array;
  close(): void;
}

function checkRange(source: ByteSource, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > source.size) {
    throw new Error(`${source.label}: read of ${length} bytes at offset ${offset} is outside the file (${source.size} bytes)`);
  }
}

class BufferSource implements ByteSource {
  readonly size: number;
  constructor(private readonly bytes: Uint8Array, readonly label: string) {
    this.size = bytes.byteLength;
  }
  read(offset: number, length: number): Uint8Array {
    checkRange(this, offset, length);
    return this.bytes.subarray(offset, offset + length);
  }
  close(): void {}
}

class FileSource implements ByteSource {
  readonly size: number;
  private fd: number | undefined;
  constructor(readonly label: string) {
    this.fd = fs.openSync(label, 'r');
    this.size = fs.fstatSync(this.fd).size;
  }
  read(offset: number, length: number): Uint8Array {
    checkRange(this, offset, length);
    if (this.fd === undefined) throw new Error(`${this.label}: read after close`);
    const out = Buffer.allocUnsafe(length);
    let done = 0;
    // readSync may return short counts; loop until the range is filled.
    while (done < length) {
      const got = fs.readSync(this.fd, out, done, length - done, offset + done);
      if (got === 0) throw new Error(`${this.label}: unexpected end of file at offset ${offset + done}`);
      done += got;
    }
    return out;
  }
  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }
}

export function openByteSource(pathOrBuffer: string | Uint8Array, bufferLabel = '<buffer>'): ByteSource {
  return typeof pathOrBuffer === 'string' ? new FileSource(pathOrBuffer) : new BufferSource(pathOrBuffer, bufferLabel);
}
