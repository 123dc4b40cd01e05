"""Where data sets live, and fetching missing files from public mirrors.

The data root is, in order: the ``root`` argument, the ``NODE_DATA``
environment variable, the folder ``shared/data`` beside the source checkout
that ``node`` runs from (``../shared/data`` seen from the repository, where the
examples, tests and notebooks find the data too) if it exists, or a per-user
cache folder (``$XDG_CACHE_HOME/node`` or ``~/.cache/node``). Each data set has
a subfolder (``mnist/``, ``fashion-mnist/``).

Downloads go through :func:`node.fileio.atomic_write`: the temporary file is
renamed into place only after the SHA-256 of its *decompressed* content matches
the known value, so a partial or wrong download never sits where a good file
should be. A download killed before it could clean up leaves its temporary file
behind; the next download of the same file removes it.
"""
import gzip
import hashlib
import http.client
import os
import urllib.request
import zlib
from pathlib import Path

from ..fileio import atomic_write
from .idx import iter_idx

ENV_VAR = "NODE_DATA"


def _shared_data_beside_checkout():
    """``../shared/data`` seen from the repository when node runs from a source checkout (an editable install), else None."""
    checkout = Path(__file__).resolve().parents[2]  # node/data/download.py -> the folder holding node/
    return checkout.parent / "shared" / "data" if (checkout / "setup.cfg").is_file() else None


SHARED_DATA = _shared_data_beside_checkout()


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
        OSError: ``folder`` cannot be created.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)  # a folder that cannot be made is no mirror's fault: its OSError goes to the caller
    target = folder / (filename + ".gz")
    failures = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + filename + ".gz"
        try:
            with atomic_write(target) as out:
                _copy_url(url, out, progress, timeout)
                out.flush()
                got = _sha256_of_idx(out.name, url)
                if got != sha256:  # raised inside the block: the download is removed and the target stays as it was
                    raise ValueError(f"checksum mismatch: SHA-256 of the content is {got}, expected {sha256}")
            return target
        # OSError covers urllib's URLError and timeouts; http.client's errors (a chunked answer cut short,
        # a garbage status line) are not OSErrors, and without them one broken mirror would end the loop.
        except (OSError, http.client.HTTPException, EOFError, zlib.error, ValueError) as exc:
            failures.append(f"{url}: {_describe(exc)}")
    raise DownloadError("\n  ".join([f"could not download {filename}.gz:"] + failures))


def _describe(exc):
    """An error in words; an http.client error's own text is often only the bytes it choked on."""
    text = str(exc).strip()
    if not isinstance(exc, http.client.HTTPException):
        return text
    name = type(exc).__name__
    return f"broken HTTP response: {text if text.startswith(name) else f'{name}: {text!r}'}"


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
