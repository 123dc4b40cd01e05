"""Where data sets live, and fetching missing files from public mirrors.

The data root is, in order: the ``root`` argument, the ``NODE_DATA``
environment variable, or a per-user cache folder (``$XDG_CACHE_HOME/node`` or
``~/.cache/node``). Each data set has a subfolder (``mnist/``, ``fashion-mnist/``).

Downloads go to a temporary file that is renamed into place only after the
SHA-256 of its *decompressed* content matches the known value, so a partial or
wrong download never sits where a good file should be.
"""
import gzip
import hashlib
import os
import tempfile
import urllib.error
import urllib.request
import zlib
from pathlib import Path

ENV_VAR = "NODE_DATA"


class DownloadError(RuntimeError):
    """A file could not be fetched from any mirror."""


def data_root(root=None):
    """The data root and where it came from ('argument', '$NODE_DATA' or 'cache')."""
    if root is not None:
        return Path(root).expanduser(), "argument"
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser(), f"${ENV_VAR}"
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "node", "cache"


def sha256_of_content(path):
    """SHA-256 of a file's content, decompressed first if it is gzipped."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return hashlib.sha256(data).hexdigest()


def fetch(filename, mirrors, folder, sha256, progress=True, timeout=30):
    """Download ``filename + '.gz'`` from the first mirror that serves it correctly.

    Args:
        filename: the file's name without ``.gz``.
        mirrors: base URLs, tried in order.
        folder: where the file goes.
        sha256: expected SHA-256 of the decompressed content.
        progress: show a tqdm progress bar.

    Returns:
        The path of the downloaded ``.gz`` file.

    Raises:
        DownloadError: listing what every mirror answered.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / (filename + ".gz")
    failures = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + filename + ".gz"
        fd, tmp = tempfile.mkstemp(prefix=".download-", dir=folder)
        try:
            with os.fdopen(fd, "wb") as out:
                _copy_url(url, out, progress, timeout)
            got = sha256_of_content(tmp)
            if got != sha256:
                raise ValueError(f"checksum mismatch: SHA-256 of the content is {got}, expected {sha256}")
            os.replace(tmp, target)
            return target
        except (urllib.error.URLError, OSError, EOFError, zlib.error, ValueError) as exc:
            failures.append(f"{url}: {exc}")
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    raise DownloadError("\n  ".join([f"could not download {filename}.gz:"] + failures))


def _copy_url(url, out, progress, timeout):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        total = int(response.headers.get("Content-Length") or 0) or None
        bar = None
        if progress:
            from tqdm import tqdm  # imported here: `import node` stays light

            bar = tqdm(total=total, unit="B", unit_scale=True, desc=url.rsplit("/", 1)[-1], leave=False)
        try:
            while True:
                chunk = response.read(1 << 16)
                if not chunk:
                    break
                out.write(chunk)
                if bar is not None:
                    bar.update(len(chunk))
        finally:
            if bar is not None:
                bar.close()
