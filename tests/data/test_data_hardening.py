"""Hostile inputs for the data loader: broken HTTP mirrors, gzip bombs, labels of the wrong IDX type,
and what a killed download leaves behind. Every server here is started by the test on 127.0.0.1."""
import gzip
import http.server
import os
import struct
import subprocess
import sys
import threading
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

import node
from node.data import DownloadError, fetch
from node.data.download import sha256_of_content

from helpers import REPO, make_fake_mnist

NAME = "train-labels-idx1-ubyte"


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch):
    """urllib must talk to the local test servers directly, never through a proxy from the environment."""
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "*")
    monkeypatch.setenv("NO_PROXY", "*")


# ---- a local HTTP server whose mirrors misbehave on purpose --------------------------------------
class _Handler(http.server.BaseHTTPRequestHandler):
    """Answers GET /<mirror>/<file> with the route the test gave for <mirror>."""

    def do_GET(self):
        self.server.requests.append(self.path)
        self.server.routes[self.path.split("/")[1]](self)

    def log_message(self, *args):  # keep pytest's output clean
        pass


@pytest.fixture
def server():
    """A threaded HTTP server on 127.0.0.1 with a free port; set ``server.routes`` per test."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.routes, httpd.requests = {}, []
    httpd.release = threading.Event()  # lets a stalled answer finish at teardown
    httpd.stalled = threading.Event()
    httpd.url = f"http://127.0.0.1:{httpd.server_port}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield httpd
    httpd.release.set()
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


def serve(payload):
    def route(handler):
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)

    return route


def chunked_cut_short(handler):
    """A chunked answer whose connection closes in the middle of a chunk: http.client raises IncompleteRead."""
    handler.wfile.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n400\r\n" + b"\x1f\x8b" + b"x" * 100)


def garbage_status_line(handler):
    """Not HTTP at all: http.client raises BadStatusLine."""
    handler.wfile.write(b"garbage\r\n\r\n")


def content_length_cut_short(handler):
    """Announces 1000 bytes, sends 10, closes: http.client returns the 10 bytes without complaint."""
    handler.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"\x1f\x8b" + b"x" * 8)


def stall(handler):
    """Sends the headers and a few bytes, then goes quiet until the test ends."""
    handler.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"\x1f\x8b" + b"x" * 30)
    handler.wfile.flush()
    handler.server.stalled.set()
    handler.server.release.wait(30)


@pytest.fixture
def good_file(tmp_path):
    """A small, valid gzipped label file and the SHA-256 of its content."""
    path = make_fake_mnist(tmp_path / "source", n_train=30, n_test=10) / "mnist" / (NAME + ".gz")
    return path.read_bytes(), sha256_of_content(path)


# ---- 1. broken HTTP answers fall through to the next mirror --------------------------------------
@pytest.mark.parametrize("broken", [chunked_cut_short, garbage_status_line, content_length_cut_short])
def test_a_broken_http_answer_falls_through_to_the_next_mirror(tmp_path, server, good_file, broken):
    payload, digest = good_file
    server.routes = {"bad": broken, "good": serve(payload)}
    path = fetch(NAME, [server.url + "/bad/", server.url + "/good/"], tmp_path / "dest", digest, progress=False)
    assert server.requests == [f"/bad/{NAME}.gz", f"/good/{NAME}.gz"]  # the second mirror was used
    assert path.read_bytes() == payload and os.listdir(tmp_path / "dest") == [NAME + ".gz"]


def test_when_every_mirror_breaks_the_error_names_each_one(tmp_path, server, good_file):
    payload, digest = good_file
    server.routes = {"cut": chunked_cut_short, "garbage": garbage_status_line, "short": content_length_cut_short}
    mirrors = [f"{server.url}/{m}/" for m in ("cut", "garbage", "short")]
    with pytest.raises(DownloadError) as info:
        fetch(NAME, mirrors, tmp_path / "dest", digest, progress=False)
    lines = str(info.value).splitlines()
    assert lines[0] == f"could not download {NAME}.gz:"
    assert lines[1].strip().startswith(f"{mirrors[0]}{NAME}.gz: ") and "IncompleteRead" in lines[1]
    assert lines[2].strip().startswith(f"{mirrors[1]}{NAME}.gz: ") and "BadStatusLine" in lines[2] and "garbage" in lines[2]
    assert lines[3].strip().startswith(f"{mirrors[2]}{NAME}.gz: ") and "after 10 of the 1000 bytes" in lines[3]
    assert os.listdir(tmp_path / "dest") == []


def test_mnist_explains_broken_mirrors_instead_of_a_traceback(tmp_path, monkeypatch, server):
    server.routes = {"garbage": garbage_status_line}
    monkeypatch.setattr(node.MNIST, "mirrors", (server.url + "/garbage/",))
    with pytest.raises(FileNotFoundError) as info:
        node.MNIST(root=tmp_path / "root")
    message = str(info.value)
    assert "train-images-idx3-ubyte (or train-images-idx3-ubyte.gz) is missing" in message
    assert f"{server.url}/garbage/train-images-idx3-ubyte.gz: " in message and "BadStatusLine" in message


# ---- 2. gzip bombs are rejected without being inflated -------------------------------------------
def gzip_bomb(path, megabytes=8):
    """A header that declares one byte of data, then megabytes of zeros, gzipped to a few kB."""
    zeros = b"\0" * (megabytes << 20)
    path.write_bytes(gzip.compress(struct.pack(">BBBBI", 0, 0, 0x08, 1, 1) + zeros, compresslevel=9, mtime=0))
    return len(zeros)


def peak_allocation(fn):
    """Run ``fn`` (which must raise) and return the exception and the peak bytes Python allocated meanwhile."""
    tracemalloc.start()
    try:
        with pytest.raises(Exception) as info:
            fn()
        return info.value, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_gzip_bomb_is_rejected_before_it_is_inflated(tmp_path):
    path = tmp_path / "bomb-labels.gz"
    inflated = gzip_bomb(path)
    start = time.perf_counter()
    error, peak = peak_allocation(lambda: node.read_idx(path))
    assert time.perf_counter() - start < 2
    assert isinstance(error, node.IDXError) and str(error).startswith(str(path) + ": ")
    assert "more data follows the 1 bytes that shape (1,) needs" in str(error)
    assert peak < inflated // 16, f"peak allocation {peak} bytes for a file that inflates to {inflated}"


def test_a_gzip_bomb_download_is_rejected_before_it_is_inflated(tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    inflated = gzip_bomb(mirror / (NAME + ".gz"))
    error, peak = peak_allocation(lambda: fetch(NAME, [mirror.as_uri()], tmp_path / "dest", "0" * 64, progress=False))
    assert isinstance(error, DownloadError) and "more data follows the 1 bytes that shape (1,) needs" in str(error)
    assert peak < inflated // 16, f"peak allocation {peak} bytes for a download that inflates to {inflated}"
    assert os.listdir(tmp_path / "dest") == []


def test_gzipped_idx_files_still_read_whole_and_check_their_length(tmp_path):
    array = (np.arange(3 << 20) % 251).astype(np.uint8).reshape(3, 1 << 20)  # 3 MB: several decompression pieces
    node.write_idx(tmp_path / "big.gz", array)
    np.testing.assert_array_equal(node.read_idx(tmp_path / "big.gz"), array)
    header = struct.pack(">BBBBI", 0, 0, 0x08, 1, 5)
    (tmp_path / "short.gz").write_bytes(gzip.compress(header + b"\1\2\3"))
    with pytest.raises(node.IDXError, match=r"short.gz: truncated: the header announces shape \(5,\) \(5 bytes of data\) but only 3 bytes follow"):
        node.read_idx(tmp_path / "short.gz")
    (tmp_path / "header.gz").write_bytes(gzip.compress(header[:6]))
    with pytest.raises(node.IDXError, match="header.gz: truncated header"):
        node.read_idx(tmp_path / "header.gz")


# ---- 3. label files must be unsigned bytes -------------------------------------------------------
@pytest.mark.parametrize(
    "labels, problem",
    [
        (np.array([1, -1, 3, -7], dtype=np.int8), r"int8 \(IDX type 0x09\)"),
        (np.array([1, 2, 3, 4], dtype=np.int16), r"int16 \(IDX type 0x0b\)"),
        (np.array([1.5, 2.7, 3.0, 4.0], dtype=np.float32), r"float32 \(IDX type 0x0d\)"),
        (np.array([1, 2, 3, 4], dtype=np.float64), r"float64 \(IDX type 0x0e\)"),
    ],
)
@pytest.mark.parametrize("dataset", [node.MNIST, node.FashionMNIST])
def test_label_files_must_hold_unsigned_bytes(tmp_path, labels, problem, dataset):
    root = make_fake_mnist(tmp_path, n_train=4, n_test=4, folder=dataset.folder)
    label_file = root / dataset.folder / "train-labels-idx1-ubyte.gz"
    node.write_idx(label_file, labels)
    with pytest.raises(node.IDXError, match=rf"^{label_file}: labels are {problem}; .* unsigned bytes \(IDX type 0x08\)"):
        dataset(root=root)


def test_labels_out_of_range_are_rejected(tmp_path):
    root = make_fake_mnist(tmp_path, n_train=4, n_test=4)
    label_file = root / "mnist" / "train-labels-idx1-ubyte.gz"
    node.write_idx(label_file, np.array([1, 10, 3, 255], dtype=np.uint8))
    with pytest.raises(node.IDXError, match=rf"^{label_file}: label 255 is out of range for 10 classes"):
        node.MNIST(root=root)


# ---- 4. a killed download's temporary file is cleaned up by the next download --------------------
def leftovers(folder):
    return sorted(p.name for p in Path(folder).iterdir() if p.name.startswith(".tmp-"))


def start_download(server, dest):
    """A separate Python process that starts fetching from the stalling mirror; returns once it is mid-download."""
    code = "import sys; from node.data import fetch; fetch(sys.argv[1], [sys.argv[2]], sys.argv[3], '0' * 64, progress=False)"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    process = subprocess.Popen([sys.executable, "-c", code, NAME, server.url + "/stall/", str(dest)], env=env)
    if not server.stalled.wait(20):
        process.kill()
        process.wait()
        pytest.fail("the download process never reached the server")
    return process


@pytest.mark.skipif(os.name != "posix", reason="a dead writer is recognised by its PID on POSIX only; elsewhere by age")
def test_a_killed_download_is_cleaned_up_by_the_next_one(tmp_path, server, good_file):
    payload, digest = good_file
    server.routes = {"stall": stall, "good": serve(payload)}
    dest = tmp_path / "dest"
    process = start_download(server, dest)
    try:
        live = leftovers(dest)
        assert len(live) == 1
        fetch(NAME, [server.url + "/good/"], dest, digest, progress=False)
        assert leftovers(dest) == live  # a download still in progress is left alone
    finally:
        process.kill()  # SIGKILL: no finally block, no cleanup
        process.wait()
    assert leftovers(dest) == live  # left behind for good, until ...
    (dest / "unrelated.gz").write_bytes(b"keep me")
    path = fetch(NAME, [server.url + "/good/"], dest, digest, progress=False)  # ... the next download of that file
    assert leftovers(dest) == [] and path.read_bytes() == payload
    assert sorted(os.listdir(dest)) == [NAME + ".gz", "unrelated.gz"]
