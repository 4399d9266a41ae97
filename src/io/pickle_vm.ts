// A small pickle virtual machine (protocols 0-5, minus the text-string and
// extension-registry opcodes torch never emits). It knows no Python classes:
// globals, calls and persistent ids are delegated to hooks.

/** A `module.name` reference produced by GLOBAL / STACK_GLOBAL. */
export class PickleGlobal {
  constructor(readonly module: string, readonly name: string) {}
  get qualifiedName(): string {
    return `${this.module}.${this.name}`;
  }
}

/** A Python object this reader does not model: the class called and its arguments (plus BUILD state, if any). */
export interface PickleOpaque {
  __global__: string;
  args: unknown[];
  state?: unknown;
}

export interface PickleHooks {
  /** Resolves GLOBAL/STACK_GLOBAL; the default keeps a PickleGlobal reference. */
  findGlobal?(module: string, name: string): unknown;
  /** REDUCE / NEWOBJ on a callable; the default makes a PickleOpaque. */
  call?(callable: unknown, args: unknown[]): unknown;
  /** BINPERSID / PERSID. Without it, persistent ids are an error. */
  persistentLoad?(pid: unknown): unknown;
  /** Used in error messages. */
  label?: string;
}

export function isPickleOpaque(value: unknown): value is PickleOpaque {
  return typeof value === 'object' && value !== null && typeof (value as PickleOpaque).__global__ === 'string';
}

export function makeOpaque(callable: unknown, args: unknown[]): PickleOpaque {
  const name = callable instanceof PickleGlobal ? callable.qualifiedName : String(callable);
  return { __global__: name, args };
}

// Opcodes, by byte value.
const OP = {
  MARK: 0x28, STOP: 0x2e, POP: 0x30, POP_MARK: 0x31, DUP: 0x32, FLOAT: 0x46, INT: 0x49, BININT: 0x4a,
  BININT1: 0x4b, LONG: 0x4c, BININT2: 0x4d, NONE: 0x4e, PERSID: 0x50, BINPERSID: 0x51, REDUCE: 0x52,
  BINSTRING: 0x54, SHORT_BINSTRING: 0x55, BINUNICODE: 0x58, APPEND: 0x61, BUILD: 0x62, GLOBAL: 0x63,
  DICT: 0x64, EMPTY_DICT: 0x7d, APPENDS: 0x65, GET: 0x67, BINGET: 0x68, LONG_BINGET: 0x6a, LIST: 0x6c,
  EMPTY_LIST: 0x5d, PUT: 0x70, BINPUT: 0x71, LONG_BINPUT: 0x72, SETITEM: 0x73, TUPLE: 0x74,
  EMPTY_TUPLE: 0x29, SETITEMS: 0x75, BINFLOAT: 0x47,
  PROTO: 0x80, NEWOBJ: 0x81, TUPLE1: 0x85, TUPLE2: 0x86, TUPLE3: 0x87, NEWTRUE: 0x88, NEWFALSE: 0x89,
  LONG1: 0x8a, LONG4: 0x8b, BINBYTES: 0x42, SHORT_BINBYTES: 0x43,
  SHORT_BINUNICODE: 0x8c, BINUNICODE8: 0x8d, BINBYTES8: 0x8e, EMPTY_SET: 0x8f, ADDITEMS: 0x90,
  FROZENSET: 0x91, NEWOBJ_EX: 0x92, STACK_GLOBAL: 0x93, MEMOIZE: 0x94, FRAME: 0x95,
  BYTEARRAY8: 0x96, READONLY_BUFFER: 0x98,
} as const;

/** Little-endian two's-complement integer of any width: a number when safe, else a bigint. */
export function decodeLong(bytes: Uint8Array): number | bigint {
  if (bytes.byteLength === 0) return 0;
  let value = 0n;
  for (let i = bytes.byteLength - 1; i >= 0; i--) value = (value << 8n) | BigInt(bytes[i]);
  if (bytes[bytes.byteLength - 1] & 0x80) value -= 1n << BigInt(8 * bytes.byteLength);
  return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
}

function textInteger(line: string): number | bigint | boolean {
  const trimmed = line.replace(/L$/, '');
  if (trimmed === '00') return false; // protocol 0 spells False/True as I00/I01
  if (trimmed === '01') return true;
  const value = BigInt(trimmed);
  return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
}

class PickleMachine {
  private pos = 0;
  private stack: unknown[] = [];
  private readonly markStack: unknown[][] = [];
  private readonly memo = new Map<number, unknown>();
  private readonly data: DataView;
  private readonly label: string;

  constructor(private readonly bytes: Uint8Array, private readonly hooks: PickleHooks) {
    this.data = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.label = hooks.label ?? 'pickle';
  }

  private fail(message: string, at = this.pos): never {
    throw new Error(`${this.label}: ${message} (at byte ${at})`);
  }

  private need(count: number): number {
    if (this.pos + count > this.bytes.byteLength) this.fail(`truncated pickle: needs ${count} more bytes`);
    const start = this.pos;
    this.pos += count;
    return start;
  }
  private u8(): number { return this.bytes[this.need(1)]; }
  private u16(): number { return this.data.getUint16(this.need(2), true); }
  private u32(): number { return this.data.getUint32(this.need(4), true); }
  private i32(): number { return this.data.getInt32(this.need(4), true); }
  private u64(): number {
    const value = this.data.getBigUint64(this.need(8), true);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(`length ${value} is too large`);
    return Number(value);
  }
  private take(count: number): Uint8Array {
    const start = this.need(count);
    return this.bytes.subarray(start, start + count);
  }
  private utf8(count: number): string {
    const chunk = this.take(count);
    return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).toString('utf8');
  }
  private line(): string {
    const end = this.bytes.indexOf(0x0a, this.pos);
    if (end < 0) this.fail('truncated pickle: missing newline');
    const text = Buffer.from(this.bytes.subarray(this.pos, end)).toString('latin1');
    this.pos = end + 1;
    return text;
  }

  private push(value: unknown): void { this.stack.push(value); }
  private pop(): unknown {
    if (this.stack.length === 0) this.fail('stack underflow');
    return this.stack.pop();
  }
  private top(): unknown {
    if (this.stack.length === 0) this.fail('stack underflow');
    return this.stack[this.stack.length - 1];
  }
  private popMark(): unknown[] {
    const items = this.stack;
    const previous = this.markStack.pop();
    if (!previous) this.fail('MARK expected on the stack');
    this.stack = previous;
    return items;
  }
  private memoGet(index: number): unknown {
    if (!this.memo.has(index)) this.fail(`memo key ${index} not found`);
    return this.memo.get(index);
  }

  private findGlobal(module: string, name: string): unknown {
    return this.hooks.findGlobal ? this.hooks.findGlobal(module, name) : new PickleGlobal(module, name);
  }
  private call(callable: unknown, args: unknown): unknown {
    if (!Array.isArray(args)) this.fail('call arguments are not a tuple');
    return this.hooks.call ? this.hooks.call(callable, args) : makeOpaque(callable, args);
  }
  private persistentLoad(pid: unknown): unknown {
    if (!this.hooks.persistentLoad) this.fail('persistent id found but no persistent loader is set');
    return this.hooks.persistentLoad(pid);
  }

  private setItems(target: unknown, items: unknown[]): void {
    if (items.length % 2 !== 0) this.fail('SETITEMS with an odd number of items');
    if (target instanceof Map) {
      for (let i = 0; i < items.length; i += 2) target.set(items[i], items[i + 1]);
    } else if (isPickleOpaque(target)) {
      // A dict subclass we do not model: keep its items beside the call.
      const opaqueItems = ((target as PickleOpaque & { items?: Map<unknown, unknown> }).items ??= new Map());
      for (let i = 0; i < items.length; i += 2) opaqueItems.set(items[i], items[i + 1]);
    } else {
      this.fail('SETITEM(S) on something that is not a dict');
    }
  }

  private appendItems(target: unknown, items: unknown[]): void {
    if (Array.isArray(target)) {
      for (const item of items) target.push(item);
    } else if (target instanceof Set) {
      for (const item of items) target.add(item);
    } else if (isPickleOpaque(target)) {
      const list = ((target as PickleOpaque & { list?: unknown[] }).list ??= []);
      list.push(...items);
    } else {
      this.fail('APPEND(S) on something that is not a list');
    }
  }

  private build(target: unknown, state: unknown): void {
    if (isPickleOpaque(target)) {
      target.state = state;
    }
    // Maps (OrderedDict with e.g. `_metadata`), tensors and plain values: the state carries nothing we model.
  }

  run(): unknown {
    for (;;) {
      const at = this.pos;
      const opcode = this.u8();
      switch (opcode) {
        case OP.PROTO: {
          const protocol = this.u8();
          if (protocol > 5) this.fail(`unsupported pickle protocol ${protocol}`, at);
          break;
        }
        case OP.FRAME: this.u64(); break; // Framing only groups bytes; the stream is already in memory.
        case OP.STOP: return this.pop();

        case OP.MARK: this.markStack.push(this.stack); this.stack = []; break;
        case OP.POP: this.pop(); break;
        case OP.POP_MARK: this.popMark(); break;
        case OP.DUP: this.push(this.top()); break;

        case OP.NONE: this.push(null); break;
        case OP.NEWTRUE: this.push(true); break;
        case OP.NEWFALSE: this.push(false); break;
        case OP.BININT: this.push(this.i32()); break;
        case OP.BININT1: this.push(this.u8()); break;
        case OP.BININT2: this.push(this.u16()); break;
        case OP.LONG1: this.push(decodeLong(this.take(this.u8()))); break;
        case OP.LONG4: this.push(decodeLong(this.take(this.u32()))); break;
        case OP.INT: this.push(textInteger(this.line())); break;
        case OP.LONG: this.push(textInteger(this.line())); break;
        case OP.FLOAT: this.push(parseFloat(this.line())); break;
        case OP.BINFLOAT: this.push(this.data.getFloat64(this.need(8), false)); break; // big-endian by spec

        case OP.BINUNICODE: this.push(this.utf8(this.u32())); break;
        case OP.SHORT_BINUNICODE: this.push(this.utf8(this.u8())); break;
        case OP.BINUNICODE8: this.push(this.utf8(this.u64())); break;
        case OP.BINSTRING: this.push(Buffer.from(this.take(this.i32())).toString('latin1')); break;
        case OP.SHORT_BINSTRING: this.push(Buffer.from(this.take(this.u8())).toString('latin1')); break;
        case OP.BINBYTES: this.push(new Uint8Array(this.take(this.u32()))); break;
        case OP.SHORT_BINBYTES: this.push(new Uint8Array(this.take(this.u8()))); break;
        case OP.BINBYTES8: this.push(new Uint8Array(this.take(this.u64()))); break;
        case OP.BYTEARRAY8: this.push(new Uint8Array(this.take(this.u64()))); break;
        case OP.READONLY_BUFFER: break;

        case OP.EMPTY_DICT: this.push(new Map()); break;
        case OP.EMPTY_LIST: this.push([]); break;
        case OP.EMPTY_TUPLE: this.push([]); break;
        case OP.EMPTY_SET: this.push(new Set()); break;
        case OP.TUPLE: this.push(this.popMark()); break;
        case OP.TUPLE1: { const a = this.pop(); this.push([a]); break; }
        case OP.TUPLE2: { const b = this.pop(); const a = this.pop(); this.push([a, b]); break; }
        case OP.TUPLE3: { const c = this.pop(); const b = this.pop(); const a = this.pop(); this.push([a, b, c]); break; }
        case OP.LIST: this.push(this.popMark()); break;
        case OP.DICT: { const map = new Map(); this.setItems(map, this.popMark()); this.push(map); break; }
        case OP.FROZENSET: this.push(new Set(this.popMark())); break;

        case OP.APPEND: { const item = this.pop(); this.appendItems(this.top(), [item]); break; }
        case OP.APPENDS: { const items = this.popMark(); this.appendItems(this.top(), items); break; }
        case OP.ADDITEMS: { const items = this.popMark(); this.appendItems(this.top(), items); break; }
        case OP.SETITEM: { const value = this.pop(); const key = this.pop(); this.setItems(this.top(), [key, value]); break; }
        case OP.SETITEMS: { const items = this.popMark(); this.setItems(this.top(), items); break; }

        case OP.PUT: this.memo.set(Number(this.line()), this.top()); break;
        case OP.BINPUT: this.memo.set(this.u8(), this.top()); break;
        case OP.LONG_BINPUT: this.memo.set(this.u32(), this.top()); break;
        case OP.MEMOIZE: this.memo.set(this.memo.size, this.top()); break;
        case OP.GET: this.push(this.memoGet(Number(this.line()))); break;
        case OP.BINGET: this.push(this.memoGet(this.u8())); break;
        case OP.LONG_BINGET: this.push(this.memoGet(this.u32())); break;

        case OP.GLOBAL: {
          const module = this.line();
          const name = this.line();
          this.push(this.findGlobal(module, name));
          break;
        }
        case OP.STACK_GLOBAL: {
          const name = this.pop();
          const module = this.pop();
          if (typeof module !== 'string' || typeof name !== 'string') this.fail('STACK_GLOBAL needs two strings', at);
          this.push(this.findGlobal(module, name));
          break;
        }
        case OP.REDUCE: { const args = this.pop(); const callable = this.pop(); this.push(this.call(callable, args)); break; }
        case OP.NEWOBJ: { const args = this.pop(); const cls = this.pop(); this.push(this.call(cls, args)); break; }
        case OP.NEWOBJ_EX: {
          this.pop(); // keyword arguments: no class this reader builds takes any
          const args = this.pop();
          const cls = this.pop();
          this.push(this.call(cls, args));
          break;
        }
        case OP.BUILD: { const state = this.pop(); this.build(this.top(), state); break; }
        case OP.BINPERSID: this.push(this.persistentLoad(this.pop())); break;
        case OP.PERSID: this.push(this.persistentLoad(this.line())); break;

        default:
          this.fail(`unsupported pickle opcode 0x${opcode.toString(16).padStart(2, '0')}` +
            (opcode >= 0x20 && opcode < 0x7f ? ` ('${String.fromCharCode(opcode)}')` : ''), at);
      }
    }
  }
}

/** Runs a pickle stream to its STOP and returns the result. Dicts are Maps (insertion order kept), lists and tuples arrays. */
export function unpickle(bytes: Uint8Array, hooks: PickleHooks = {}): unknown {
  return new PickleMachine(bytes, hooks).run();
}
