"""Files written whole or not at all: the one atomic write behind checkpoints, IDX files, downloads and JSON reports.

``with atomic_write(path) as f:`` hands out a new temporary file in the
target's folder. When the block ends without an error, the data is flushed
and fsynced and the temporary is renamed over ``path`` (``os.replace``, atomic
on one file system), so readers see the old file or the new one, never half of
one. When the block raises (or the process is interrupted), the temporary is
removed and ``path`` is untouched.

Every temporary is named ``.tmp-<target>-<pid>-<host>-<random>``: the target's
file name (hashed when too long), then the writing process and its machine.
A writer killed mid-write (SIGKILL, power loss) cannot clean up, so the next
atomic write of the same target removes the temporaries whose writer is gone:
a process of this machine that no longer runs, or any writer that has not
written for ``STALE_AFTER`` seconds (the only sign that works for a folder
shared with other machines). A temporary whose writer may still be writing
stays, and so does every file of another target.
"""
import contextlib
import hashlib
import os
import re
import socket
import time

STALE_AFTER = 3600  # seconds without a write after which a temporary is abandoned, whoever wrote it
_MODES = {"wb": "xb", "w": "x", "wt": "xt"}


@contextlib.contextmanager
def atomic_write(path, mode="wb"):
    """Context manager: a new file object whose content replaces ``path`` when the block ends without an error.

    The file gets the permissions the umask gives new files (0o666 less the
    umask), like a file opened with ``open(path, "w")``; missing folders are
    created. ``f.name`` is the temporary's path, for a caller that checks what
    it wrote before it lands (a download checks its checksum; raising then
    keeps the target as it was).

    Args:
        path: the target file (str or path-like).
        mode: "wb" for bytes (default), "w" or "wt" for UTF-8 text.

    Raises:
        ValueError: ``mode`` is not one of those.
        OSError: the folder or the temporary cannot be created, or the rename
            fails; the temporary is removed and ``path`` is left as it was.
    """
    if mode not in _MODES:
        raise ValueError(f"atomic_write: mode must be one of {sorted(_MODES)} (a whole new file), got {mode!r}")
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    prefix = f".tmp-{_name_tag(path)}-"
    _remove_stale_temporaries(folder, prefix)
    f = _create_temporary(folder, prefix, _MODES[mode])
    try:
        with f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(f.name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(f.name)
        raise


def _name_tag(path):
    """The target's file name as it appears in its temporaries (hashed when too long for a file name)."""
    name = os.path.basename(path)
    return name if len(os.fsencode(name)) <= 120 else hashlib.sha256(os.fsencode(name)).hexdigest()[:32]


def _create_temporary(folder, prefix, mode):
    """A new ``<prefix><pid>-<host>-<random>`` opened with ``mode`` ('x...': created, never reused)."""
    encoding = None if "b" in mode else "utf-8"
    while True:
        tmp = os.path.join(folder, f"{prefix}{os.getpid()}-{socket.gethostname()}-{os.urandom(4).hex()}")
        try:
            return open(tmp, mode, encoding=encoding)
        except FileExistsError:
            continue


def _remove_stale_temporaries(folder, prefix):
    """Delete the temporaries named ``<prefix><pid>-<host>-<random>`` in ``folder`` whose writer is gone."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        if not entry.name.startswith(prefix):
            continue
        match = re.fullmatch(r"(\d+)-(.+)-[0-9a-f]{8}", entry.name[len(prefix) :])
        if match is None or not _is_stale(entry, int(match.group(1)), match.group(2)):
            continue
        with contextlib.suppress(OSError):  # removed by another writer meanwhile, or not ours to remove
            os.remove(entry.path)


def _is_stale(entry, pid, host):
    """Whether the temporary ``entry``, written by process ``pid`` on ``host``, is abandoned."""
    try:
        if time.time() - entry.stat().st_mtime > STALE_AFTER:
            return True
    except FileNotFoundError:  # renamed into place or removed meanwhile
        return False
    return host == socket.gethostname() and not _process_alive(pid)


def _process_alive(pid):
    """Whether process ``pid`` of this machine may still be running (True when that cannot be told).

    This process counts as alive (another of its threads may be writing). On
    Windows there is no harmless probe (``os.kill`` would end the process), so
    every process counts as alive there and only a temporary's age tells.
    """
    if pid == os.getpid() or os.name != "posix":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError):  # PermissionError: alive, another user's; OverflowError: not a pid
        return True
    return True
