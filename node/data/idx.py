"""Read and write IDX files, the format of MNIST and Fashion-MNIST (raw or gzipped).

Layout: two zero bytes, a type code, the number of dimensions d, then d
big-endian uint32 sizes, then the values in C order, big-endian.
Everything is checked against the file's length before any reshape, so a bad
file gives an ``IDXError`` naming the file and the problem.
"""
import gzip
import os
import struct
import tempfile
import zlib

import numpy as np

IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_TYPE_CODES = {np.dtype(v).newbyteorder("="): k for k, v in IDX_TYPES.items()}
_GZIP_MAGIC = b"\x1f\x8b"


class IDXError(ValueError):
    """An IDX file is corrupt, truncated or not an IDX file at all."""


def read_idx(path):
    """Read an IDX file (gzipped or not; detected from its first bytes) into a NumPy array.

    Raises:
        FileNotFoundError: no file at ``path``.
        IDXError: bad gzip stream, wrong magic number, truncated data or extra bytes.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"IDX file not found: {path}")
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == _GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise IDXError(f"{path}: corrupt or truncated gzip data ({exc})") from None
    return parse_idx(data, path)


def parse_idx(data, source="<bytes>"):
    """Parse the bytes of an IDX file; ``source`` names it in errors."""
    if len(data) < 4:
        raise IDXError(f"{source}: only {len(data)} bytes, too short for an IDX header")
    type_code, ndim = data[2], data[3]
    if data[:2] != b"\0\0" or type_code not in IDX_TYPES or ndim == 0:
        raise IDXError(
            f"{source}: wrong magic number 0x{data[:4].hex()}; an IDX file starts with two zero bytes, "
            f"a type code (one of {', '.join(hex(t) for t in IDX_TYPES)}) and the number of dimensions"
        )
    header = 4 + 4 * ndim
    if len(data) < header:
        raise IDXError(f"{source}: truncated header: {ndim} dimensions need {header} bytes, the file has {len(data)}")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    dtype = np.dtype(IDX_TYPES[type_code])
    count = 1
    for d in dims:
        count *= d
    expected, actual = count * dtype.itemsize, len(data) - header
    if actual < expected:
        raise IDXError(f"{source}: truncated: the header announces shape {dims} ({expected} bytes of data) but only {actual} bytes follow")
    if actual > expected:
        raise IDXError(f"{source}: count mismatch: {actual - expected} bytes follow the {expected} bytes that shape {dims} needs")
    return np.frombuffer(data, dtype, count=count, offset=header).astype(dtype.newbyteorder("=")).reshape(dims)


def write_idx(path, array):
    """Write ``array`` as an IDX file (gzipped when ``path`` ends in .gz), atomically."""
    array = np.asarray(array)
    code = _TYPE_CODES.get(array.dtype.newbyteorder("="))
    if code is None:
        raise TypeError(f"IDX cannot hold dtype {array.dtype}; use one of {sorted(str(d) for d in _TYPE_CODES)}")
    payload = struct.pack(">BBBB", 0, 0, code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    payload += array.astype(IDX_TYPES[code]).tobytes()
    path = os.fspath(path)
    if path.endswith(".gz"):
        payload = gzip.compress(payload, mtime=0)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
