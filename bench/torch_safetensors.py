"""Minimal safetensors reader/writer (numpy + struct + json only).

Format: 8-byte little-endian unsigned header length n, then n bytes of UTF-8 JSON
{name: {"dtype", "shape", "data_offsets": [begin, end]}, optional "__metadata__": {str: str}},
then the raw little-endian row-major tensor bytes (offsets relative to the end of the header).

Used by the bench/torch_*.py scripts because the `safetensors` package is not installed.
"""
import json
import struct

import numpy as np

_NP_DTYPES = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}
_DTYPE_NAMES = {v: k for k, v in _NP_DTYPES.items()}


def _read_header(buf):
    if len(buf) < 8:
        raise ValueError("safetensors: file too short")
    (n,) = struct.unpack("<Q", buf[:8])
    if 8 + n > len(buf):
        raise ValueError("safetensors: header length %d exceeds file size" % n)
    header = json.loads(bytes(buf[8:8 + n]).decode("utf-8"))
    return header, 8 + n


def load_numpy(path):
    """Returns (dict name -> numpy array, metadata dict or None). BF16 is widened to float32."""
    with open(path, "rb") as f:
        buf = f.read()
    header, base = _read_header(buf)
    meta = header.pop("__metadata__", None)
    out = {}
    for name, info in header.items():
        dt = info["dtype"]
        shape = tuple(int(s) for s in info["shape"])
        b, e = info["data_offsets"]
        raw = buf[base + b: base + e]
        if dt == "BF16":
            u16 = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
            arr = u16.view(np.float32).reshape(shape)
        else:
            if dt not in _NP_DTYPES:
                raise ValueError("safetensors: unsupported dtype %s for %s" % (dt, name))
            npdt = _NP_DTYPES[dt]
            count = int(np.prod(shape)) if shape else 1
            if count * npdt.itemsize != e - b:
                raise ValueError("safetensors: size mismatch for %s" % name)
            arr = np.frombuffer(raw, dtype=npdt, count=count).reshape(shape).copy()
        out[name] = arr
    return out, meta


def load(path):
    """Returns dict name -> torch.Tensor (BOOL -> torch.bool, I64 -> torch.int64, F32 -> float32)."""
    import torch

    arrs, _ = load_numpy(path)
    return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in arrs.items()}


def save(tensors, path, metadata=None):
    """tensors: dict name -> numpy array or torch.Tensor. Writes in sorted-name order, 8-byte aligned header."""
    items = []
    for name in sorted(tensors):
        v = tensors[name]
        if hasattr(v, "detach"):
            v = v.detach().cpu().contiguous().numpy()
        v = np.ascontiguousarray(v)
        dt = v.dtype.newbyteorder("<") if v.dtype.byteorder == ">" else v.dtype
        key = np.dtype(dt)
        if key not in _DTYPE_NAMES:
            raise ValueError("safetensors: unsupported numpy dtype %s for %s" % (v.dtype, name))
        items.append((name, _DTYPE_NAMES[key], list(v.shape), v.astype(key.newbyteorder("<"), copy=False).tobytes()))
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(val) for k, val in metadata.items()}
    off = 0
    for name, dt, shape, raw in items:
        header[name] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + len(raw)]}
        off += len(raw)
    hj = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hj += b" " * ((8 - len(hj) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for _, _, _, raw in items:
            f.write(raw)
