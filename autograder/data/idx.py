"""The IDX file format of (Fashion-)MNIST, read and written with numpy.

An IDX file is a big-endian header followed by raw data::

    magic: 4 bytes = 0x00 0x00 <type code> <number of dims>   (0x08 = unsigned byte)
    dims:  one big-endian int32 per dimension
    data:  prod(dims) values

so an image file (3 dims of ubyte) has magic 0x00000803 = 2051 and a label file
(1 dim) has 0x00000801 = 2049. Files may be gzipped (detected from the content).
"""
from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049
_GZIP = b"\x1f\x8b"


class IDXError(ValueError):
    """An IDX file is malformed; the message names the file and what is wrong."""


def _raw_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    if data[:2] == _GZIP:
        try:
            return gzip.decompress(data)
        except (OSError, EOFError) as err:
            raise IDXError(f"{path}: corrupt or truncated gzip data ({err}); delete it and download it again") from err
    return data


def read_idx(path: str | Path, magic: int, item_shape: tuple[int, ...] = ()) -> np.ndarray:
    """Read an unsigned-byte IDX file: ``(count, *item_shape)`` uint8 array.

    ``magic``: 2051 for images, 2049 for labels; ``item_shape``: the expected size of one
    item, ``(28, 28)`` for images and ``()`` for labels. Raises :class:`IDXError` naming
    the file when the magic number, the dimensions or the length is wrong.
    """
    path = Path(path)
    data = _raw_bytes(path)
    if len(data) < 4:
        raise IDXError(f"{path}: {len(data)} bytes is too short for an IDX header (file truncated?)")
    (found,) = struct.unpack(">i", data[:4])
    if found != magic:
        kind = {IMAGES_MAGIC: "an image file", LABELS_MAGIC: "a label file"}.get(magic, "this file")
        raise IDXError(f"{path}: magic number {found}, expected {magic} for {kind} (wrong file, or not IDX at all)")
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(data) < header:
        raise IDXError(f"{path}: header truncated ({len(data)} bytes, need {header} for {ndim} dimensions)")
    dims = struct.unpack(f">{ndim}i", data[4:header])
    if tuple(dims[1:]) != tuple(item_shape):
        raise IDXError(f"{path}: items of shape {tuple(dims[1:])}, expected {tuple(item_shape)}")
    expected = int(np.prod(dims))
    body = len(data) - header
    if body != expected:
        what = "truncated" if body < expected else "has trailing bytes"
        raise IDXError(f"{path}: {what}: header says {dims[0]} items ({expected} bytes of data), found {body} bytes")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def write_idx(path: str | Path, array: np.ndarray, compress: bool | None = None) -> Path:
    """Write a uint8 array (1-d labels or 3-d images) as IDX; gzip when ``compress``
    (default: when the name ends in ``.gz``). Returns the path."""
    path = Path(path)
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">i", 0x0800 | array.ndim) + struct.pack(f">{array.ndim}i", *array.shape)
    payload = header + array.tobytes()
    if compress if compress is not None else path.suffix == ".gz":
        payload = gzip.compress(payload, mtime=0)
    path.write_bytes(payload)
    return path
