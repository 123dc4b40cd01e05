"""Where data sets live, and fetching missing files from public mirrors.

The data root is, in order: the ``root`` argument, the ``NODE_DATA``
environment variable, the folder ``shared/data`` beside the source checkout
that ``node`` runs from (``../shared/data`` seen from the repository, where the
examples, tests and notebooks find the data too) if it exists, or a per-user
cache folder (``$XDG_CACHE_HOME/node`` or ``~/.cache/node``). Each data set has
a subfolder (``mnist/``, ``fashion-mnist/``).

Downloads go to a temporary file that is renamed into place only after the
SHA-256 of its *decompressed* content matches the known value, so a partial or
wrong download never sits where a good file should be. A download killed before
it could clean up leaves its temporary file behind; the next download of the
same file removes it.
"""
import gzip
import hashlib
import http.client
import os
import socket
import tempfile
import time
import urllib.request
import zlib
from pathlib import Path

from .idx import iter_idx

ENV_VAR = "NODE_DATA"


def _shared_data_beside_checkout():
    """``../shared/data`` seen from the repository when node runs from a source checkout (an editable install), else None."""
    checkout = Path(__file__).resolve().parents[2]  # node/data/download.py -> the folder holding node/
    return checkout.parent / "shared" / "data" if (checkout / "setup.cfg").is_file() else None


SHARED_DATA = _shared_data_beside_checkout()
STALE_AFTER = 3600  # seconds without a write after which a temporary download is abandoned, whoever started it


class DownloadError(RuntimeError):
    """A file could not be fetched from any mirror."""


def data_root(root=None):
    """The data root and where it came from.

    In order: ``root`` if given ('argument'), the ``NODE_DATA`` environment
    variable ('$NODE_DATA'), ``../shared/data`` beside the source checkout if
    that folder exists ('../shared/data beside the checkout'), else the
    per-user cache folder ('cache'). The examples resolve ``--data`` the same way.

    Args:
        root: a folder given by the caller, or None for the defaults.

    Returns:
        (Path, str): the folder and a description of where it came from.
    """
    if root is not None:
        return Path(root).expanduser(), "argument"
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser(), f"${ENV_VAR}"
    if SHARED_DATA is not None and SHARED_DATA.is_dir():
        return SHARED_DATA, "../shared/data beside the checkout"
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "node", "cache"


def sha256_of_content(path):
    """SHA-256 of a file's content, decompressed first if it is gzipped (as a stream: memory stays small)."""
    digest = hashlib.sha256()
    with open(path, "rb") as raw:
        gzipped = raw.read(2) == b"\x1f\x8b"
        raw.seek(0)
        with (gzip.GzipFile(fileobj=raw) if gzipped else raw) as f:
            for piece in iter(lambda: f.read(1 << 20), b""):
                digest.update(piece)
    return digest.hexdigest()


def _sha256_of_idx(path, source):
    """SHA-256 of a downloaded IDX file's content, read no further than its header announces.

    Unlike ``sha256_of_content`` this never inflates more than the header's size
    plus one byte, so a gzip bomb from a mirror costs neither memory nor time.
    """
    digest = hashlib.sha256()
    for piece in iter_idx(path, source):
        digest.update(piece)
    return digest.hexdigest()


def fetch(filename, mirrors, folder, sha256, progress=True, timeout=30):
    """Download ``filename + '.gz'`` from the first mirror that serves it correctly.

    Args:
        filename: the file's name without ``.gz``.
        mirrors: base URLs, tried in order.
        folder: where the file goes.
        sha256: expected SHA-256 of the decompressed content.
        progress: show a progress bar (``tqdm.auto``: a widget in Jupyter, text in a terminal).

    Returns:
        The path of the downloaded ``.gz`` file.

    Raises:
        DownloadError: listing what every mirror answered.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / (filename + ".gz")
    _remove_stale_temporaries(target)
    failures = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + filename + ".gz"
        fd, tmp = tempfile.mkstemp(prefix=f"{_temporaries_of(target)}{socket.gethostname()}-{os.getpid()}-", dir=folder)
        try:
            with os.fdopen(fd, "wb") as out:
                _copy_url(url, out, progress, timeout)
            got = _sha256_of_idx(tmp, url)
            if got != sha256:
                raise ValueError(f"checksum mismatch: SHA-256 of the content is {got}, expected {sha256}")
            os.replace(tmp, target)
            return target
        # OSError covers urllib's URLError and timeouts; http.client's errors (a chunked answer cut short,
        # a garbage status line) are not OSErrors, and without them one broken mirror would end the loop.
        except (OSError, http.client.HTTPException, EOFError, zlib.error, ValueError) as exc:
            failures.append(f"{url}: {_describe(exc)}")
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    raise DownloadError("\n  ".join([f"could not download {filename}.gz:"] + failures))


def _describe(exc):
    """An error in words; an http.client error's own text is often only the bytes it choked on."""
    text = str(exc).strip()
    if not isinstance(exc, http.client.HTTPException):
        return text
    name = type(exc).__name__
    return f"broken HTTP response: {text if text.startswith(name) else f'{name}: {text!r}'}"


def _temporaries_of(target):
    """How the names of the temporary files of downloads of ``target`` start."""
    return f".download-{target.name}-"


def _remove_stale_temporaries(target):
    """Delete the temporary files that killed downloads of ``target`` left behind.

    A temporary is named ``.download-<file>-<host>-<pid>-<random>``. It is stale
    when that process is gone from this host, or when nobody has written to it for
    STALE_AFTER seconds (a live download writes as data comes and times out when
    none does; this also covers a cache folder shared with other machines). A
    download still in progress is left alone.
    """
    prefix = _temporaries_of(target)
    for entry in os.scandir(target.parent):
        if entry.name.startswith(prefix) and _is_stale(entry, entry.name[len(prefix):]):
            try:
                os.remove(entry.path)
            except OSError:  # gone already, or not ours to delete: cleaning up is only a courtesy
                pass


def _is_stale(entry, owner):
    try:
        if time.time() - entry.stat().st_mtime > STALE_AFTER:
            return True
    except FileNotFoundError:
        return False
    parts = owner.rsplit("-", 2)  # host (may hold dashes), pid, mkstemp's random letters (never dashes)
    if len(parts) != 3 or parts[0] != socket.gethostname() or not parts[1].isdigit():
        return False  # another machine's (or an unknown) download: only its age tells
    return not _process_alive(int(parts[1]))


def _process_alive(pid):
    if os.name != "posix":  # os.kill(pid, 0) would end the process on Windows: rely on the age alone
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, but another user's
        return True
    return True


def _copy_url(url, out, progress, timeout):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        total = int(response.headers.get("Content-Length") or 0) or None
        bar = None
        if progress:
            from tqdm.auto import tqdm  # a widget in Jupyter, text elsewhere; imported here: `import node` stays light

            bar = tqdm(total=total, unit="B", unit_scale=True, desc=url.rsplit("/", 1)[-1], leave=False)
        copied = 0
        try:
            while True:
                chunk = response.read(1 << 16)
                if not chunk:
                    break
                out.write(chunk)
                copied += len(chunk)
                if bar is not None:
                    bar.update(len(chunk))
        finally:
            if bar is not None:
                bar.close()
    # http.client ends a body cut short of its Content-Length quietly, as if it were complete.
    if total is not None and copied < total:
        raise EOFError(f"the server closed the connection after {copied} of the {total} bytes it announced")
