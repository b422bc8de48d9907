"""The IDX file format of MNIST: read (gzipped or raw) with every header checked, and write."""

from __future__ import annotations

import gzip
import math
import os
import struct
from pathlib import Path

import numpy as np

from ..errors import LookinsideError

GZIP_MAGIC = b"\x1f\x8b"


def _big(dtype: np.dtype) -> np.dtype:
    """The big-endian form of `dtype` (IDX's byte order); one-byte types are their own."""
    return dtype.newbyteorder(">") if dtype.itemsize > 1 else dtype


# IDX type codes (third byte of the magic number) and the numpy dtype they store.
_DTYPES: dict[int, np.dtype] = {0x08: np.dtype("u1"), 0x09: np.dtype("i1"), 0x0B: np.dtype(">i2"),
           0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}  # fmt: skip
_CODES: dict[np.dtype, int] = {_big(dt): code for code, dt in _DTYPES.items()}


def read_bytes(path: Path) -> bytes:
    """The file's bytes, decompressed when it is gzipped (by content, not by name)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise LookinsideError(f"{path} is missing.") from None
    except OSError as e:
        raise LookinsideError(f"{path} cannot be read: {e.strerror}.") from None
    return decompress(raw, str(path))


def decompress(raw: bytes, source: str = "<bytes>") -> bytes:
    """Gunzip `raw` if it starts with the gzip magic bytes; return it unchanged otherwise."""
    if raw[:2] != GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError) as e:
        raise LookinsideError(
            f"{source} is not a valid gzip file (truncated or corrupt: {e})."
        ) from None


def parse_idx(data: bytes, source: str = "<bytes>") -> np.ndarray:
    """Parse IDX bytes into an array, checking the magic number and that the sizes add up."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise LookinsideError(f"{source} is not an IDX file (bad magic number).")
    code, ndim = data[2], data[3]
    if code not in _DTYPES or ndim == 0:
        raise LookinsideError(f"{source} is not an IDX file (type 0x{code:02x}, {ndim} dims).")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise LookinsideError(f"{source} is truncated inside its header.")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    dtype = _DTYPES[code]
    expected = header + math.prod(shape) * dtype.itemsize  # Python ints: never overflows
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "longer than its header says"
        raise LookinsideError(
            f"{source} is {what}: {len(data)} bytes where shape {shape} needs {expected}."
        )
    return (
        np.frombuffer(data, dtype=dtype, offset=header)
        .reshape(shape)
        .astype(dtype.newbyteorder("="))
    )


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file, gzipped or raw."""
    path = Path(path)
    return parse_idx(read_bytes(path), str(path))


def write_idx(
    path: str | os.PathLike[str], array: np.ndarray, compress: bool | None = None
) -> None:
    """Write `array` as IDX (gzipped when `compress`, or when the name ends in `.gz`)."""
    path = Path(path)
    arr = np.asarray(array)
    big = _big(arr.dtype)
    if big not in _CODES:
        raise ValueError(f"IDX cannot store dtype {arr.dtype}.")
    header = bytes([0, 0, _CODES[big], arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    data = header + arr.astype(big).tobytes()
    if compress or (compress is None and path.suffix == ".gz"):
        data = gzip.compress(data, mtime=0)
    from ..files import atomic_write_bytes

    atomic_write_bytes(path, data)
