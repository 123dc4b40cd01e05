"""Checkpoints: nested dicts and lists of arrays, numbers and strings in one .npz file.

Arrays are stored as the file's members; the nesting around them is stored as
JSON in a member named ``__structure__``. Files are written with
:func:`node.fileio.atomic_write`, so a crash mid-write never leaves a
half-written checkpoint (and never destroys the previous one).

Reading trusts nothing in the file: every member the zip directory lists is
read in full and its CRC checked, the directory must account for every byte
before it (a damaged directory can hide members), nothing is unpickled, and the
structure is decoded without recursion. Anything wrong raises
:class:`CheckpointError`; a damaged file never yields part of its state.
"""
import json
import math
import os
import struct
import zipfile
import zlib

import numpy as np

from . import backend
from .fileio import atomic_write

_STRUCTURE = "__structure__"
_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")  # a zip's first member, or an empty zip
_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
_CHUNK = 1 << 24  # members are read 16 MiB at a time, into the array itself


class CheckpointError(ValueError):
    """A file that is not a readable checkpoint: not a .npz archive, damaged, or not as :func:`save` writes.

    A ValueError rather than an OSError: the file could be opened and read, but
    what it holds is wrong, and reading it again will not help (and code that
    caught the ValueError :func:`load` raised before keeps working). The file is
    ``path``; what is wrong with it, ``problem``.
    """

    def __init__(self, path, problem):
        super().__init__(path, problem)
        self.path, self.problem = path, problem

    def __str__(self):
        return f"{self.path} is not a readable checkpoint: {self.problem}"


# ---- writing -------------------------------------------------------------------------
def save(obj, path):
    """Write ``obj`` (nested dicts/lists of arrays, numbers, strings, None) to ``path`` atomically.

    The arguments come in ``torch.save(obj, path)``'s order::

        node.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": 3}, "run.npz")

    The original order, ``node.save(path, obj)``, still works: when ``path`` is
    not a file name (a str or an ``os.PathLike``) and ``obj`` is, the two are
    taken the other way round. (Saving a string under a path is read in torch's
    order.) A layer or an optimizer is saved through its state:
    ``node.save(model.state_dict(), path)``.

    The file is written through :func:`node.fileio.atomic_write`: a save killed
    mid-write leaves the previous checkpoint in place and a temporary that the
    next save of the same target removes. The checkpoint gets the permissions
    the umask gives new files.

    Raises:
        TypeError: neither argument is a path, or ``obj`` holds something a
            checkpoint cannot store (the message names its type).
    """
    if not _is_path(path) and _is_path(obj):
        obj, path = path, obj  # the original order: save(path, obj)
    if not _is_path(path):
        raise TypeError(
            f"node.save(obj, path): path must be a file name (str or os.PathLike), got {type(path).__name__}; "
            f"and obj is a {type(obj).__name__}, so neither argument is the path"
        )
    arrays = {}
    structure = _encode(obj, arrays)
    arrays[_STRUCTURE] = np.frombuffer(json.dumps(structure).encode("utf-8"), dtype=np.uint8)
    with atomic_write(path) as f:
        np.savez(f, **arrays)


def _is_path(x):
    return isinstance(x, (str, os.PathLike))


def _encode(obj, arrays):
    if backend.is_array(obj) or isinstance(obj, np.generic):
        key = f"a{len(arrays)}"
        arrays[key] = backend.asnumpy(obj)
        return {"__array__": key}
    if isinstance(obj, dict):
        for k in obj:
            if not isinstance(k, (str, int)):
                raise TypeError(f"checkpoint keys must be str or int, got {type(k).__name__}")
        return {"__dict__": [[k, _encode(v, arrays)] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        return {"__list__": [_encode(v, arrays) for v in obj], "tuple": isinstance(obj, tuple)}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    hint = ""
    if callable(getattr(obj, "state_dict", None)):
        hint = ": save its state instead, node.save(x.state_dict(), path)"
    elif backend.is_array(getattr(obj, "value", None)):  # a Node
        hint = ": save its array instead (x.value)"
    raise TypeError(f"cannot save an object of type {type(obj).__name__} in a checkpoint{hint}")


# ---- reading -------------------------------------------------------------------------
def load(path):
    """Read a state written by :func:`save` (arrays come back as NumPy arrays).

    A plain ``.npz`` of named arrays (``numpy.savez``) comes back as a flat dict.

    Raises:
        FileNotFoundError: no file at ``path``.
        OSError: the file cannot be opened (no permission, a folder).
        CheckpointError: the file is not a readable checkpoint (truncated, damaged,
            not a .npz, a structure save() does not write); the message names the
            file and the problem.
    """
    path = os.fspath(path)
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        raise FileNotFoundError(f"no checkpoint at {path}") from None
    with f:
        magic = f.read(len(_NPY_MAGIC))
        if not magic.startswith(_ZIP_MAGICS):
            raise CheckpointError(path, _not_a_zip(magic))
        try:
            arrays = _read_members(f, path)
        except CheckpointError:
            raise
        except zipfile.BadZipFile as exc:
            if str(exc) == "File is not a zip file":
                raise CheckpointError(path, "it starts as a zip archive but has no zip directory at its end (truncated?)") from None
            raise CheckpointError(path, f"damaged zip archive: {exc}") from None
        except (OSError, EOFError, ValueError, zlib.error, struct.error, NotImplementedError, RuntimeError) as exc:
            # what zipfile and numpy raise on damaged bytes (RuntimeError: "encrypted", NotImplementedError: a method)
            raise CheckpointError(path, f"damaged zip archive: {exc}") from None
    if _STRUCTURE not in arrays:
        return arrays  # a plain .npz of named arrays (e.g. from numpy.savez) is a flat state
    return _decode(_read_structure(arrays.pop(_STRUCTURE), path), arrays, path)


def _not_a_zip(magic):
    if not magic:
        return "the file is empty"
    if magic == _NPY_MAGIC:
        return "it is a single .npy array (numpy.save), not a .npz archive (node.save, numpy.savez)"
    return f"it is not a .npz (zip) archive: it starts with {magic!r}"


def _read_members(f, path):
    """{name: array} of every member the zip directory lists, each read in full (so its CRC is checked)."""
    with zipfile.ZipFile(f) as zf:
        infos = zf.infolist()
        _check_layout(f, zf, infos, path)
        arrays = {}
        for info in infos:
            name = info.filename
            if not name.endswith(".npy"):
                raise CheckpointError(path, f"member {name!r} is not a .npy array")
            if name[:-4] in arrays:
                raise CheckpointError(path, f"the zip directory lists {name!r} twice")
            with zf.open(info) as member:
                arrays[name[:-4]] = _read_array(member, info, path)
    return arrays


def _check_layout(f, zf, infos, path):
    """Check that the listed members, end to end, fill the file from its start to the zip directory.

    zipfile trusts the directory: a damaged length field in one entry can make
    it skip the entries after it (the "comment length" of an entry, say), and
    the file would read as a smaller, valid one. A gap between members is such
    a hidden member. The end record must also end the file.
    """
    end, slack, previous = 0, 0, "the start of the file"
    for info in sorted(infos, key=lambda i: i.header_offset):
        _check_gap(end, slack, info.header_offset, previous, f"member {info.filename!r}", path)
        f.seek(info.header_offset)
        header = f.read(30)
        if len(header) != 30 or header[:4] != b"PK\x03\x04":
            raise CheckpointError(path, f"member {info.filename!r} has no local header at byte {info.header_offset}")
        name_length, extra_length = struct.unpack("<2H", header[26:30])
        end = info.header_offset + 30 + name_length + extra_length + info.compress_size
        slack = 24 if info.flag_bits & 0x08 else 0  # room for a data descriptor after the data
        previous = f"member {info.filename!r}"
    _check_gap(end, slack, zf.start_dir, previous, "the zip directory", path)
    f.seek(0, os.SEEK_END)
    record = f.tell() - 22 - len(zf.comment)
    f.seek(max(record, 0))
    tail = f.read(22)
    if record < 0 or tail[:4] != b"PK\x05\x06" or struct.unpack("<H", tail[20:22])[0] != len(zf.comment):
        raise CheckpointError(path, "the zip end record is damaged (its comment length does not match the end of the file)")


def _check_gap(end, slack, start, previous, following, path):
    if start < end:
        raise CheckpointError(path, f"{following} overlaps {previous}: the zip directory is damaged")
    if start > end + slack:
        raise CheckpointError(
            path, f"bytes {end}..{start} between {previous} and {following} belong to no listed member: "
            "the zip directory is damaged and hides part of the file"
        )


def _read_array(member, info, path):
    """One .npy member: its header is checked against the member's size before anything is allocated."""
    name = info.filename
    reader = _HEADER_READERS.get(np.lib.format.read_magic(member))
    if reader is None:
        raise CheckpointError(path, f"member {name!r} is in a .npy format version that checkpoints do not use")
    shape, fortran_order, dtype = reader(member)
    if dtype.hasobject:
        raise CheckpointError(path, f"member {name!r} holds Python objects (dtype {dtype}), which checkpoints never contain")
    nbytes = math.prod(shape) * dtype.itemsize
    if member.tell() + nbytes != info.file_size:
        raise CheckpointError(
            path, f"member {name!r} declares {nbytes} bytes of {dtype} {shape} but holds {info.file_size - member.tell()}"
        )
    data = bytearray(nbytes)
    view = memoryview(data)
    for start in range(0, nbytes, _CHUNK):
        chunk = member.read(min(_CHUNK, nbytes - start))
        view[start : start + len(chunk)] = chunk
        if len(chunk) < min(_CHUNK, nbytes - start):
            raise CheckpointError(path, f"member {name!r} ends early")
    if member.read(1):  # read to its end, so zipfile has checked the member's CRC
        raise CheckpointError(path, f"member {name!r} has bytes after its array")
    return np.ndarray(shape, dtype, buffer=data, order="F" if fortran_order else "C")


def _read_structure(array, path):
    """The JSON nesting stored in ``__structure__``."""
    if array.dtype != np.uint8 or array.ndim != 1:
        raise CheckpointError(path, f"'{_STRUCTURE}' is a {array.dtype} array of shape {array.shape}, not bytes")
    try:
        text = array.tobytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CheckpointError(path, f"'{_STRUCTURE}' is not valid UTF-8 ({exc})") from None
    try:
        return json.loads(text)
    except RecursionError:
        raise CheckpointError(path, f"'{_STRUCTURE}' is nested too deeply to read") from None
    except ValueError as exc:
        raise CheckpointError(path, f"'{_STRUCTURE}' is not valid JSON ({exc})") from None


def _decode(structure, arrays, path):
    """Rebuild the nested state from its JSON form, with a stack rather than recursion.

    The file decides how deep the nesting goes, so a recursive decoder would let
    it exhaust Python's stack. Every entry must be one :func:`_encode` writes,
    every array it names must exist, and every array must be named.
    """
    root, used, tuples = [None], set(), []
    pending = [(structure, root, 0)]  # (encoded value, container, key in it)
    while pending:
        obj, parent, key = pending.pop()
        kind = sorted(obj) if isinstance(obj, dict) else None
        if obj is None or isinstance(obj, (bool, int, float, str)):
            parent[key] = obj
        elif kind == ["__array__"] and isinstance(obj["__array__"], str):
            name = obj["__array__"]
            if name not in arrays:
                raise CheckpointError(path, f"the structure refers to array '{name}', which the file does not hold")
            used.add(name)
            parent[key] = arrays[name]
        elif kind == ["__dict__"] and isinstance(obj["__dict__"], list):
            parent[key] = entries = {}
            for item in obj["__dict__"]:
                if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], (str, int))):
                    raise CheckpointError(path, "the structure holds a dict entry that is not a [key, value] pair")
                entries[item[0]] = None  # keeps the saved order of keys
                pending.append((item[1], entries, item[0]))
        elif kind == ["__list__", "tuple"] and isinstance(obj["__list__"], list) and isinstance(obj["tuple"], bool):
            parent[key] = items = [None] * len(obj["__list__"])
            if obj["tuple"]:
                tuples.append((parent, key))
            pending.extend((value, items, i) for i, value in enumerate(obj["__list__"]))
        else:
            what = f"a dict with keys {kind[:5]}" if kind is not None else f"a {type(obj).__name__}"
            raise CheckpointError(path, f"the structure holds {what}, which save() never writes")
    for parent, key in reversed(tuples):  # innermost first: a tuple's items are final before it is made
        parent[key] = tuple(parent[key])
    unused = sorted(set(arrays) - used)
    if unused:
        raise CheckpointError(path, f"the file holds arrays the structure does not mention: {unused[:5]}")
    return root[0]
