"""Checkpoints: killed saves leave nothing behind for good, every unreadable file raises
CheckpointError (never part of its state), and load_state_dict names what does not fit."""
import json
import os
import signal
import stat
import struct
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

import node
from node import fileio
from node.fileio import atomic_write

from helpers import REPO


def sample_state():
    return {
        "model": {"W": np.arange(12.0).reshape(3, 4), "b": np.ones(3, np.float32), "mask": np.array([True, False])},
        "optimizer": {"param_groups": [{"lr": 0.1, "params": [0, 1]}], "state": {0: {"step": 3, "m": np.zeros((3, 4))}}},
        "history": [{"loss": 0.5}, {"loss": 0.25}],
        "shape": (2, (3, None)),
        "epoch": 7,
        "name": "run",
    }


def assert_same(a, b):
    assert type(a) is type(b)
    if isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            assert_same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert_same(x, y)
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    else:
        assert a == b


def test_round_trip_and_plain_npz(tmp_path):
    state = sample_state()
    state["fortran"] = np.asfortranarray(np.arange(6.0).reshape(2, 3))
    state["scalar"] = np.array(2.5)
    state["empty"] = np.zeros((0, 3))
    node.save(tmp_path / "c.npz", state)
    assert_same(node.load(tmp_path / "c.npz"), state)
    loaded = node.load(tmp_path / "c.npz")["model"]["W"]
    loaded += 1  # loaded arrays are writable, as numpy.load's are
    # a plain .npz (numpy.savez, compressed or not) loads as a flat dict
    np.savez(tmp_path / "plain.npz", a=np.arange(3), b=np.eye(2))
    np.savez_compressed(tmp_path / "zipped.npz", a=np.arange(300))
    assert_same(node.load(tmp_path / "plain.npz"), {"a": np.arange(3), "b": np.eye(2)})
    assert_same(node.load(tmp_path / "zipped.npz"), {"a": np.arange(300)})


# ---- 1. temporaries of killed saves --------------------------------------------------------
CHILD = """
import sys
import numpy as np
import node
big = np.ones(4_000_000)  # 32 MB: a save takes long enough to be killed in the middle of it
while True:
    node.save(sys.argv[1], {"w": big})
"""


def being_written(folder):
    """Whether a temporary in ``folder`` has data in it."""
    for name in os.listdir(folder):
        try:
            if name.startswith(".tmp-") and (folder / name).stat().st_size > 0:
                return True
        except FileNotFoundError:  # renamed meanwhile
            pass
    return False


def kill_mid_save(folder, target):
    """Start a process saving ``target`` over and over, SIGKILL it while a temporary is being written."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    for _ in range(5):  # the kill can land between a rename and the next save: then try again
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(target)], env=env)
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and child.poll() is None:
                if being_written(folder):
                    break
                time.sleep(0.002)
            child.send_signal(signal.SIGKILL)
        finally:
            child.kill()
            child.wait()
        assert child.returncode == -signal.SIGKILL, "the saving process ended by itself"
        leftovers = [n for n in os.listdir(folder) if n.startswith(".tmp-")]
        if leftovers:
            return child.pid, leftovers
    pytest.fail("five kills in a row missed the temporary file")


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_save_removes_temporaries_of_killed_saves_of_the_same_target(tmp_path):
    target = tmp_path / "checkpoint.npz"
    pid, leftovers = kill_mid_save(tmp_path, target)
    assert len(leftovers) == 1
    leftover = tmp_path / leftovers[0]
    assert leftover.name.startswith(f".tmp-checkpoint.npz-{pid}-")  # names its target and its writer
    host = socket.gethostname()
    other_target = tmp_path / f".tmp-other.npz-{pid}-{host}-0123abcd"  # another target's: not this save's business
    other_target.write_bytes(b"x")
    writer = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    live_writer = tmp_path / f".tmp-checkpoint.npz-{writer.pid}-{host}-0123abcd"  # its process may be mid-write
    live_writer.write_bytes(b"x")
    try:
        node.save(target, {"w": np.zeros(3)})
    finally:
        writer.kill()
        writer.wait()
    assert not leftover.exists()
    assert other_target.exists() and live_writer.exists()
    np.testing.assert_array_equal(node.load(target)["w"], np.zeros(3))
    assert sorted(os.listdir(tmp_path)) == sorted(["checkpoint.npz", other_target.name, live_writer.name])


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_checkpoints_get_the_permissions_the_umask_gives(tmp_path):
    previous = os.umask(0o027)
    try:
        node.save(tmp_path / "c.npz", {"w": np.zeros(2)})
    finally:
        os.umask(previous)
    assert stat.S_IMODE(os.stat(tmp_path / "c.npz").st_mode) == 0o640  # not mkstemp's 0o600


def test_atomic_write_leaves_the_target_alone_when_the_block_fails(tmp_path):
    target = tmp_path / "report.json"
    with atomic_write(target, "w") as f:
        f.write("{\"λ\": 1}")
    with pytest.raises(KeyError), atomic_write(target, "w") as f:
        f.write("half")
        raise KeyError("interrupted")
    assert target.read_text(encoding="utf-8") == "{\"λ\": 1}" and os.listdir(tmp_path) == ["report.json"]
    with pytest.raises(ValueError, match=r"mode must be one of \['w', 'wb', 'wt'\].*got 'a'"), atomic_write(target, "a"):
        pass


def test_atomic_write_judges_another_machines_temporaries_by_age(tmp_path):
    target = tmp_path / "t.bin"
    fresh = tmp_path / f".tmp-t.bin-{os.getpid()}-elsewhere.example-0123abcd"  # its pid means nothing here
    old = tmp_path / f".tmp-t.bin-{os.getpid()}-elsewhere.example-4567cdef"
    fresh.write_bytes(b"x")
    old.write_bytes(b"x")
    long_ago = time.time() - fileio.STALE_AFTER - 60
    os.utime(old, (long_ago, long_ago))
    with atomic_write(target) as f:
        f.write(b"data")
    assert sorted(os.listdir(tmp_path)) == sorted([fresh.name, "t.bin"])


# ---- 2. one error for every unreadable checkpoint -----------------------------------------
def assert_unreadable(path, match):
    with pytest.raises(node.CheckpointError, match=match) as info:
        node.load(path)
    message = str(info.value)
    assert str(path) in message and "pickle" not in message, message
    assert isinstance(info.value, ValueError) and info.value.path == str(path)


def test_not_a_checkpoint_at_all(tmp_path):
    np.save(tmp_path / "weights.npy", np.ones(3))
    os.rename(tmp_path / "weights.npy", tmp_path / "weights.npz")
    assert_unreadable(tmp_path / "weights.npz", r"single \.npy array")
    (tmp_path / "notes.npz").write_text("epoch 3: loss 0.25\n")
    assert_unreadable(tmp_path / "notes.npz", "not a .npz")
    (tmp_path / "empty.npz").write_bytes(b"")
    assert_unreadable(tmp_path / "empty.npz", "empty")
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "missing.npz")):
        node.load(tmp_path / "missing.npz")


def craft(path, structure, **arrays):
    """A .npz like save() writes, with ``structure`` (bytes) as its __structure__ member."""
    np.savez(path, **arrays, __structure__=np.frombuffer(structure, dtype=np.uint8))
    return path


@pytest.mark.parametrize("structure, arrays, match", [
    (b'{"__dict__": [["w", {"__arr', {}, "not valid JSON"),
    (b'{"\xff\xfe": 1}', {}, "not valid UTF-8"),
    (json.dumps({"__array__": "a7"}).encode(), {"a0": np.ones(2)}, "refers to array 'a7'"),
    (b"[" * 100_000 + b"]" * 100_000, {}, "nested too deeply"),
    (json.dumps({"__dict__": [["w", {"format": 1}]]}).encode(), {}, "never writes"),
    (json.dumps({"__array__": "a0"}).encode(), {"a0": np.ones(2), "a1": np.ones(2)}, r"does not mention: \['a1'\]"),
], ids=["json", "utf8", "missing-array", "deep", "unknown-entry", "unmentioned-array"])
def test_damaged_structure(tmp_path, structure, arrays, match):
    assert_unreadable(craft(tmp_path / "c.npz", structure, **arrays), match)


def test_structure_is_decoded_without_recursion(tmp_path, monkeypatch):
    """Nesting deeper than Python's recursion limit decodes: a JSON reader may allow it (CPython's does from 3.12 on)."""
    deep = {"__array__": "a0"}
    for _ in range(20 * sys.getrecursionlimit()):
        deep = {"__list__": [deep], "tuple": False}
    path = craft(tmp_path / "c.npz", b"null", a0=np.ones(1))
    monkeypatch.setattr(json, "loads", lambda text: deep)  # what a JSON reader without a depth limit would return
    state = node.load(path)
    for _ in range(20 * sys.getrecursionlimit()):
        state = state[0]
    np.testing.assert_array_equal(state, np.ones(1))


def central_directory_comment_lengths(data):
    """Offsets of the comment-length fields: of every central directory entry, then of the end record."""
    end = data.rfind(b"PK\x05\x06")
    count, _, start = struct.unpack_from("<HII", data, end + 10)
    offsets = []
    for _ in range(count):
        assert data[start : start + 4] == b"PK\x01\x02"
        offsets.append(start + 32)
        name, extra, comment = struct.unpack_from("<3H", data, start + 28)
        start += 46 + name + extra + comment
    return offsets + [end + 20]


def test_damaged_zip_directory_never_yields_part_of_the_state(tmp_path):
    """A longer comment in one directory entry swallows the entries after it: zipfile lists fewer members."""
    path = tmp_path / "c.npz"
    state = sample_state()
    node.save(path, state)
    data = path.read_bytes()
    offsets = central_directory_comment_lengths(data)
    assert len(offsets) == 6  # 4 arrays and the structure, and the end record
    for offset in offsets:
        for byte in (offset, offset + 1):
            for flip in (0x01, 0xFF):
                damaged = bytearray(data)
                damaged[byte] ^= flip
                path.write_bytes(damaged)
                if offset == offsets[-2]:  # the last entry's comment can swallow nothing: harmless, or caught
                    try:
                        assert_same(node.load(path), state)
                    except node.CheckpointError:
                        pass
                else:
                    assert_unreadable(path, "zip")


def test_every_flipped_byte_and_every_truncation_is_caught_or_harmless(tmp_path):
    """Each member is read in full and its CRC checked, so damage anywhere raises or changes nothing."""
    original = tmp_path / "c.npz"
    node.save(original, {"W": np.arange(6.0).reshape(2, 3), "t": (1, "a", [np.ones(2, np.float32)])})
    expected, data = node.load(original), original.read_bytes()
    path = tmp_path / "damaged.npz"
    variants = [data[:n] for n in range(len(data))]
    variants += [data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1 :] for i in range(len(data))]
    for variant in variants:
        path.write_bytes(variant)
        try:
            state = node.load(path)
        except node.CheckpointError as exc:
            assert str(path) in str(exc) and "pickle" not in str(exc), str(exc)
        else:  # e.g. a flipped modification time: the state read is the state saved
            assert_same(state, expected)
    path.write_bytes(data[: len(data) // 2])
    assert_unreadable(path, "truncated")


# ---- 3. load_state_dict names what does not fit -------------------------------------------
@pytest.mark.parametrize("value, got", [([[1.0, 2.0, 3.0]] * 2, "list"), ("weights", "str"), (None, "NoneType"),
                                        (np.array(["a", "b"]), "dtype <U1")])
def test_layer_load_state_dict_names_a_value_that_is_not_an_array(tmp_path, value, got):
    layer = node.Linear(3, 2)
    before = {k: v.copy() for k, v in layer.state_dict().items()}
    state = {"W": value, "b": np.ones(2)}
    with pytest.raises(TypeError, match=f"Linear.load_state_dict: 'W' must be a numeric array, got .*{got}"):
        layer.load_state_dict(state)
    for name, array in layer.state_dict().items():
        np.testing.assert_array_equal(array, before[name])  # nothing loaded
    node.save(tmp_path / "c.npz", state)
    with pytest.raises(TypeError, match=f"c.npz: Linear.load_state_dict: 'W' must be a numeric array, got .*{got}"):
        layer.load(tmp_path / "c.npz")
    with pytest.raises(TypeError, match="expects a dict of arrays by name, got list"):
        layer.load_state_dict([np.ones((3, 2)), np.ones(2)])


def test_optimizer_load_state_dict_names_what_is_missing():
    p = node.Parameter(np.ones(3))
    opt = node.Adam([p], lr=0.1)
    (p * p).sum().backward()
    opt.step()
    good = opt.state_dict()
    before = opt.state_dict()
    with pytest.raises(KeyError, match=r"Adam.load_state_dict: the dict has no 'param_groups' or 'state'"):
        opt.load_state_dict({"model": {}})
    with pytest.raises(KeyError, match=r"has no 'state' \(it has \['param_groups'\]\)"):
        opt.load_state_dict({"param_groups": good["param_groups"]})
    with pytest.raises(TypeError, match="expects the dict state_dict\\(\\) returns, got list"):
        opt.load_state_dict([good])
    with pytest.raises(TypeError, match="'param_groups' must be a list of dicts"):
        opt.load_state_dict({"param_groups": [0.1], "state": {}})
    with pytest.raises(ValueError, match=r"entry for parameter 5, but this optimizer has parameters 0..0"):
        opt.load_state_dict({"param_groups": [{**good["param_groups"][0], "lr": 9.0}], "state": {5: {}}})
    assert opt.param_groups[0]["lr"] == 0.1  # nothing changed by a dict that failed
    assert_same(opt.state_dict(), before)
    opt.load_state_dict(good)


# ---- argument order (issue 23): torch.save(obj, path), and the original save(path, obj) ----------------
@pytest.mark.parametrize("as_path", [str, lambda p: p], ids=["str", "Path"])
def test_save_takes_torchs_order_and_the_original_one(tmp_path, as_path):
    state = {"W": np.arange(6.0).reshape(2, 3), "epoch": 3}
    node.save(state, as_path(tmp_path / "torch_order.npz"))
    node.save(as_path(tmp_path / "old_order.npz"), state)
    for name in ("torch_order.npz", "old_order.npz"):
        loaded = node.load(tmp_path / name)
        np.testing.assert_array_equal(loaded["W"], state["W"])
        assert loaded["epoch"] == 3
    node.save("just a string", tmp_path / "s.npz")  # two strings: read in torch's order
    assert node.load(tmp_path / "s.npz") == "just a string"


def test_save_says_which_argument_is_which(tmp_path):
    with pytest.raises(TypeError, match=r"^node\.save\(obj, path\): path must be a file name \(str or os\.PathLike\), got dict; and obj is a dict"):
        node.save({"a": 1}, {"b": 2})
    layer = node.Linear(2, 2)
    for args in [(layer, tmp_path / "m.npz"), (tmp_path / "m.npz", layer)]:
        with pytest.raises(TypeError, match=r"^cannot save an object of type Linear in a checkpoint: save its state instead, node\.save\(x\.state_dict\(\), path\)$"):
            node.save(*args)
    with pytest.raises(TypeError, match=r"^cannot save an object of type Node in a checkpoint: save its array instead \(x\.value\)$"):
        node.save({"x": node.Node(np.ones(2))}, tmp_path / "n.npz")
    assert not list(tmp_path.iterdir())  # nothing written by a refused save
