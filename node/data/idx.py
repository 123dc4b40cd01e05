"""Read and write IDX files, the format of MNIST and Fashion-MNIST (raw or gzipped).

Layout: two zero bytes, a type code, the number of dimensions d, then d
big-endian uint32 sizes, then the values in C order, big-endian.
Everything is checked against the file's length before any reshape, so a bad
file gives an ``IDXError`` naming the file and the problem. A gzipped file is
inflated no further than its header announces (plus one byte, to see extra
data), so a tiny .gz that would inflate to gigabytes is rejected cheaply.
"""
import gzip
import math
import os
import struct
import zlib

import numpy as np

from ..fileio import atomic_write

IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}  # type code -> dtype in the file
IDX_TYPE_CODES = {np.dtype(v).newbyteorder("="): k for k, v in IDX_TYPES.items()}  # native dtype -> type code
_GZIP_MAGIC = b"\x1f\x8b"
_PIECE = 1 << 20  # gzipped files are decompressed this many bytes at a time


class IDXError(ValueError):
    """An IDX file is corrupt, truncated or not an IDX file at all."""


def read_idx(path):
    """Read an IDX file (gzipped or not; detected from its first bytes) into a NumPy array.

    A gzipped file is decompressed as a stream that stops one byte past the size
    its header announces (see ``iter_idx``), so a small .gz that would inflate to
    gigabytes is rejected without being inflated.

    Raises:
        FileNotFoundError: no file at ``path``.
        IDXError: bad gzip stream, wrong magic number, truncated data or extra bytes.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"IDX file not found: {path}")
    with open(path, "rb") as f:
        gzipped = f.read(2) == _GZIP_MAGIC
        if not gzipped:  # its size on disk is its size: read it whole, and say exactly how many bytes are extra
            f.seek(0)
            return parse_idx(f.read(), path)
    data = bytearray()  # grows in place: no second copy of the whole content
    for piece in iter_idx(path):
        data += piece
    return parse_idx(data, path)


def iter_idx(path, source=None, piece_size=_PIECE):
    """Yield the content of an IDX file (decompressed when gzipped): its header, then its data in pieces.

    Reading stops one byte past the data size the header announces: that byte
    tells whether more follows. So a gzip bomb (a header that declares a few
    bytes, then gigabytes of zeros compressed to kilobytes) costs neither the
    memory nor the time to inflate it, and ``fetch`` can checksum a download
    with the same bound. ``source`` names the file in errors (default: ``path``).

    Raises:
        IDXError: bad gzip stream, wrong magic number, truncated data, or more data than the header announces.
    """
    source = os.fspath(path) if source is None else source
    with open(path, "rb") as raw:
        gzipped = raw.read(2) == _GZIP_MAGIC
        raw.seek(0)
        with (gzip.GzipFile(fileobj=raw) if gzipped else raw) as stream:
            try:
                head = stream.read(4)
                if len(head) == 4:
                    head += stream.read(4 * head[3])
                dims, dtype, _ = _header(head, source)
                yield head
                expected = math.prod(dims) * dtype.itemsize
                left = expected + 1
                while left:
                    piece = stream.read(min(piece_size, left))
                    if not piece:
                        break
                    left -= len(piece)
                    if not left:
                        raise IDXError(
                            f"{source}: count mismatch: more data follows the {expected} bytes that shape {dims} needs "
                            "(reading stopped there)"
                        )
                    yield piece
            except (OSError, EOFError, zlib.error) as exc:
                if not gzipped:
                    raise
                raise IDXError(f"{source}: corrupt or truncated gzip data ({exc})") from None
    if left > 1:
        raise IDXError(_truncated(source, dims, expected, expected + 1 - left))


def _header(data, source):
    """Shape, dtype and length of the header at the start of ``data``; IDXError if it is not a whole IDX header."""
    if len(data) < 4:
        raise IDXError(f"{source}: only {len(data)} bytes, too short for an IDX header")
    type_code, ndim = data[2], data[3]
    if data[:2] != b"\0\0" or type_code not in IDX_TYPES or ndim == 0:
        raise IDXError(
            f"{source}: wrong magic number 0x{bytes(data[:4]).hex()}; an IDX file starts with two zero bytes, "
            f"a type code (one of {', '.join(hex(t) for t in IDX_TYPES)}) and the number of dimensions"
        )
    header = 4 + 4 * ndim
    if len(data) < header:
        raise IDXError(f"{source}: truncated header: {ndim} dimensions need {header} bytes, the file has {len(data)}")
    return struct.unpack(f">{ndim}I", data[4:header]), np.dtype(IDX_TYPES[type_code]), header


def _truncated(source, dims, expected, actual):
    return f"{source}: truncated: the header announces shape {dims} ({expected} bytes of data) but only {actual} bytes follow"


def parse_idx(data, source="<bytes>"):
    """Parse the bytes of an IDX file; ``source`` names it in errors."""
    dims, dtype, header = _header(data, source)
    count = math.prod(dims)
    expected, actual = count * dtype.itemsize, len(data) - header
    if actual < expected:
        raise IDXError(_truncated(source, dims, expected, actual))
    if actual > expected:
        raise IDXError(f"{source}: count mismatch: {actual - expected} bytes follow the {expected} bytes that shape {dims} needs")
    return np.frombuffer(data, dtype, count=count, offset=header).astype(dtype.newbyteorder("=")).reshape(dims)


def write_idx(path, array):
    """Write ``array`` as an IDX file (gzipped when ``path`` ends in .gz), atomically (:func:`node.fileio.atomic_write`).

    Raises:
        TypeError: the array's dtype has no IDX type code (see ``IDX_TYPE_CODES``).
    """
    array = np.asarray(array)
    code = IDX_TYPE_CODES.get(array.dtype.newbyteorder("="))
    if code is None:
        raise TypeError(f"IDX cannot hold dtype {array.dtype}; use one of {sorted(str(d) for d in IDX_TYPE_CODES)}")
    payload = struct.pack(">BBBB", 0, 0, code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    payload += array.astype(IDX_TYPES[code]).tobytes()
    path = os.fspath(path)
    if path.endswith(".gz"):
        payload = gzip.compress(payload, mtime=0)
    with atomic_write(path) as f:
        f.write(payload)
