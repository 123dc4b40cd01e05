"""Checkpoints: nested dicts and lists of arrays, numbers and strings in one .npz file.

Arrays are stored as the file's members; the nesting around them is stored as
JSON in a member named ``__structure__``. Files are written to a temporary file
in the same folder and renamed over the target, so a crash mid-write never
leaves a half-written checkpoint (and never destroys the previous one).
"""
import json
import os
import tempfile
import zipfile

import numpy as np

from . import backend

_STRUCTURE = "__structure__"


def save(path, state):
    """Write ``state`` (nested dicts/lists of arrays, numbers, strings, None) to ``path`` atomically."""
    arrays = {}
    structure = _encode(state, arrays)
    arrays[_STRUCTURE] = np.frombuffer(json.dumps(structure).encode("utf-8"), dtype=np.uint8)
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def load(path):
    """Read a state written by :func:`save` (arrays come back as NumPy arrays).

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the file is not a readable checkpoint (truncated, not .npz, ...).
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {name: f[name] for name in f.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise ValueError(f"{path} is not a readable checkpoint: {exc}") from None
    if _STRUCTURE not in arrays:
        # A plain .npz of named arrays (e.g. from numpy.savez) is a flat state.
        return arrays
    structure = json.loads(arrays.pop(_STRUCTURE).tobytes().decode("utf-8"))
    return _decode(structure, arrays)


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
    raise TypeError(f"cannot save an object of type {type(obj).__name__} in a checkpoint")


def _decode(obj, arrays):
    if isinstance(obj, dict):
        if "__array__" in obj:
            return arrays[obj["__array__"]]
        if "__dict__" in obj:
            return {k: _decode(v, arrays) for k, v in obj["__dict__"]}
        if "__list__" in obj:
            items = [_decode(v, arrays) for v in obj["__list__"]]
            return tuple(items) if obj.get("tuple") else items
    return obj
