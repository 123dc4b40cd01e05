"""node.threads: BLAS threads sized to the free cores around node's own products, and put back after.

The decision is tested on faked /proc readings; the governor against the real
BLAS library through threadpoolctl (skipped where there is none). Nothing here
times anything.
"""
import importlib.util
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

import node
import node.functions as F
from node import threads
from node.functions.arithmetic import Add, MatMul
from node.functions.connection import Affine
from node.functions.conv import Convolution2D, Convolution2DGradInput, Convolution2DGradWeight

pytestmark = pytest.mark.governor  # the suite turns the governor off elsewhere (tests/conftest.py)


def blas_or_skip():
    pytest.importorskip("threadpoolctl")
    blas = threads.blas_controller()
    if blas is None:
        pytest.skip("threadpoolctl finds no BLAS library in NumPy here")
    return blas


@pytest.fixture(autouse=True)
def fresh_governor():
    """This thread's governor decides afresh in each test, and leaves no decision behind for the next."""
    governor = threads.blas_threads()
    governor.next_check, governor.limit = 0.0, 0
    yield
    governor.next_check, governor.limit = 0.0, 0


@pytest.fixture
def busy(monkeypatch):
    """Every governor decides as if other processes held every core (0 free), and counts its looks at /proc."""
    looks = []

    def no_core_free(**kwargs):
        looks.append(kwargs)
        return 0

    monkeypatch.setattr(threads, "cores_free", no_core_free)
    return looks


@pytest.fixture
def two_blas_threads():
    """The BLAS library set to 2 threads for the test (threadpoolctl's own limit, undone after)."""
    from threadpoolctl import threadpool_limits

    blas = blas_or_skip()
    with threadpool_limits(limits=2, user_api="blas"):
        if blas.get_num_threads() != 2:
            pytest.skip("the BLAS library did not take a limit of 2 threads")
        yield blas


# ---- the decision, on faked readings ------------------------------------------------------------
@pytest.mark.parametrize(
    "loadavg, own, cores, all_cores, free",
    [
        ("0.10 0.20 0.30 1/87 2724\n", 1, 2, 2, 2),  # only the asking thread runs: all free
        ("2.05 1.90 1.50 3/99 2724\n", 1, 2, 2, 0),  # two busy processes on two cores
        ("2.05 1.90 1.50 4/99 2724\n", 2, 2, 2, 0),  # the same, with one of our BLAS threads spinning
        ("1.00 1.00 1.00 2/99 2724\n", 1, 2, 2, 1),  # one busy process
        ("1.00 1.00 1.00 3/99 2724\n", 3, 2, 2, 2),  # three running tasks, all ours
        ("1.00 1.00 1.00 3/99 2724\n", 1, 2, 8, 2),  # two others, spread over the machine's eight cores
        ("9.00 9.00 9.00 9/99 2724\n", 1, 4, 8, 0),  # eight others on eight cores
    ],
)
def test_cores_free_from_a_loadavg_reading(loadavg, own, cores, all_cores, free):
    assert threads.cores_free(loadavg=loadavg, own=own, cores=cores, all_cores=all_cores) == free


@pytest.mark.parametrize("unreadable", [None, "", "garbage", "1.0 2.0 3.0 x/y 1"])
def test_cores_free_is_none_when_the_reading_cannot_be_parsed(unreadable, monkeypatch):
    monkeypatch.setattr(threads, "read_loadavg", lambda: unreadable)
    assert threads.cores_free(own=1, cores=2, all_cores=2) is None


def test_a_task_seen_in_one_reading_only_is_not_a_busy_process(monkeypatch):
    readings = iter(["1.0 1.0 1.0 4/99 1\n", "1.0 1.0 1.0 2/99 1\n", "1.0 1.0 1.0 3/99 1\n"])
    monkeypatch.setattr(threads, "read_loadavg", lambda: next(readings))
    monkeypatch.setattr(threads, "own_running_threads", lambda: 1)
    assert threads.SAMPLES == 3
    assert threads.cores_free(cores=2, all_cores=2) == 1  # the smallest count, 2: one other task


def test_the_readers_read_this_machine():
    text = threads.read_loadavg()
    if text is None:
        pytest.skip("no /proc/loadavg here")
    assert threads.own_running_threads() >= 1
    assert 0 <= threads.cores_free() <= threads.usable_cores()


@pytest.mark.parametrize("free, cores, decision", [(0, 2, 1), (1, 2, 1), (2, 2, 0), (3, 4, 3), (None, 2, 0)])
def test_decision_is_free_cores_at_least_one_or_leave(free, cores, decision, monkeypatch):
    blas_or_skip()
    monkeypatch.setattr(threads, "cores_free", lambda **kwargs: free)
    monkeypatch.setattr(threads, "usable_cores", lambda: cores)
    assert threads.Governor().decide() == decision


def test_the_first_look_decides_and_later_two_agreeing_looks_change_the_decision(monkeypatch):
    said = iter([1, 0, 1, 0, 0, 1, 1])
    monkeypatch.setattr(threads.Governor, "decide", lambda self: next(said))
    governor = threads.Governor()
    limits = []
    for now in range(7):
        governor.look(float(now))
        limits.append(governor.limit)
    assert limits == [1, 1, 1, 1, 0, 0, 1]
    assert governor.next_check == 6 + threads.CHECK_INTERVAL


# ---- the governor against the BLAS library ------------------------------------------------------
def test_governor_lowers_inside_and_restores_after(two_blas_threads, busy):
    governor = threads.Governor()
    with governor:
        assert two_blas_threads.get_num_threads() == 1
    assert two_blas_threads.get_num_threads() == 2
    with pytest.raises(RuntimeError, match="inside"), governor:
        assert two_blas_threads.get_num_threads() == 1
        raise RuntimeError("inside")
    assert two_blas_threads.get_num_threads() == 2


def test_nested_blocks_decide_once_and_restore_at_the_outermost_exit(two_blas_threads, busy):
    governor = threads.Governor()
    with governor:
        with governor:
            with governor:
                assert two_blas_threads.get_num_threads() == 1
            assert two_blas_threads.get_num_threads() == 1
        assert two_blas_threads.get_num_threads() == 1
    assert two_blas_threads.get_num_threads() == 2
    assert len(busy) == 1  # one look at /proc for the outermost block; the decision is kept for CHECK_INTERVAL
    with governor:
        pass
    assert len(busy) == 1
    governor.next_check = 0.0
    with governor:
        pass
    assert len(busy) == 2


def test_never_raises_the_thread_count(monkeypatch):
    from threadpoolctl import threadpool_limits

    blas = blas_or_skip()
    monkeypatch.setattr(threads, "cores_free", lambda **kwargs: 3)
    monkeypatch.setattr(threads, "usable_cores", lambda: 4)
    with threadpool_limits(limits=1, user_api="blas"):
        governor = threads.Governor()
        with governor:
            assert blas.get_num_threads() == 1
        assert governor.limit == 3 and blas.get_num_threads() == 1


def test_a_quiet_machine_changes_nothing(two_blas_threads, monkeypatch):
    monkeypatch.setattr(threads, "cores_free", lambda **kwargs: threads.usable_cores())
    governor = threads.Governor()
    with governor:
        assert two_blas_threads.get_num_threads() == 2
    assert governor.limit == 0 and governor.restore == 0


def test_node_ops_run_with_the_decision_and_leave_the_setting_as_found(two_blas_threads, busy):
    seen = []

    class Product(node.Function):
        uses_blas = True

        def forward(self, a, b):
            seen.append(two_blas_threads.get_num_threads())
            return a @ b

        def backward(self, gy):
            seen.append(two_blas_threads.get_num_threads())
            a, b = self.saved_inputs()
            return gy @ b.T, a.T @ gy

    a = node.Node(np.ones((4, 3), dtype=np.float32))
    b = node.Node(np.ones((3, 2), dtype=np.float32))
    Product()(a, b).sum().backward()
    assert seen == [1, 1]  # forward (uses_blas) and the backward walk
    assert two_blas_threads.get_num_threads() == 2
    (a @ b).sum().backward()
    assert two_blas_threads.get_num_threads() == 2


def test_set_enabled_turns_it_off_in_this_thread_only(two_blas_threads, busy):
    previous = threads.set_enabled(False)
    try:
        assert previous is True and threads.enabled() is False
        with threads.blas_threads():
            assert two_blas_threads.get_num_threads() == 2
        other = []
        worker = threading.Thread(target=lambda: other.append(threads.enabled()))
        worker.start()
        worker.join()
        assert other == [True]
    finally:
        threads.set_enabled(previous)
    assert threads.enabled() is True


def test_state_is_per_thread(two_blas_threads, busy):
    mine = threads.blas_threads()
    assert threads.blas_threads() is mine
    found = {}

    def other_thread():
        governor = threads.blas_threads()
        found["same object"] = governor is mine
        found["depth"] = governor.depth
        found["enabled"] = governor.enabled

    with mine:
        worker = threading.Thread(target=other_thread)
        worker.start()
        worker.join()
    assert found == {"same object": False, "depth": 0, "enabled": True}


def test_other_threads_can_still_set_openblas_after_a_block(busy):
    """threadpoolctl lets one thread at a time set a pthreads OpenBLAS: the governor's hold ends with its block."""
    from threadpoolctl import OpenBLASController, threadpool_limits

    blas = blas_or_skip()
    if blas.internal_api != "openblas" or getattr(blas, "threading_layer", None) == "openmp":
        pytest.skip("only a pthreads OpenBLAS has one controlling thread")
    original = blas.get_num_threads()
    blas.set_num_threads(2)
    OpenBLASController.clear_controlling_thread()  # no thread holds OpenBLAS now
    try:
        with threads.Governor():
            assert blas.get_num_threads() == 1
        assert blas.get_num_threads() == 2
        found = []

        def other_thread():
            with threadpool_limits(limits=1, user_api="blas"):
                found.append(blas.get_num_threads())

        worker = threading.Thread(target=other_thread)
        worker.start()
        worker.join()
        assert found == [1]  # were the governor still holding OpenBLAS, this limit would have been ignored (2)
    finally:
        blas.set_num_threads(original)
        OpenBLASController.clear_controlling_thread()


# ---- without threadpoolctl ----------------------------------------------------------------------
def test_without_threadpoolctl_it_does_nothing(monkeypatch, busy):
    monkeypatch.setitem(sys.modules, "threadpoolctl", None)  # import threadpoolctl raises ImportError
    monkeypatch.setattr(threads, "_blas", threads._NOT_LOOKED)
    assert threads.blas_controller() is None
    governor = threads.Governor()
    with governor, governor:
        assert governor.decide() == 0
    assert governor.restore == 0 and busy == []
    x = node.Node(np.ones((3, 4), dtype=np.float32))
    w = node.Node(np.ones((4, 2), dtype=np.float32))
    F.linear(x, w).sum().backward()
    np.testing.assert_array_equal(np.asarray(w.grad), np.full((4, 2), 3, dtype=np.float32))


# ---- which ops are governed ---------------------------------------------------------------------
@pytest.mark.parametrize("function", [MatMul, Affine, Convolution2D, Convolution2DGradInput, Convolution2DGradWeight])
def test_the_product_ops_use_blas(function):
    assert function.uses_blas is True


def test_elementwise_ops_do_not():
    assert Add.uses_blas is False


# ---- the benchmark ------------------------------------------------------------------------------
def test_contention_benchmark_runs_quiet_and_prints_its_rows():
    """benchmarks/contention.py in a tiny quiet configuration (no busy processes): its rows, or PyTorch's skip line."""
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "contention.py"
    result = subprocess.run([sys.executable, str(script), "--busy", "0", "--repeats", "1", "--mlp-steps", "2"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    for row in ("| LeNets++ | node |", "| LeNets++ | node, governor off |", "| seed MLP | node |", "| seed MLP | node, governor off |"):
        assert row in out
    if importlib.util.find_spec("torch") is None:
        assert "PyTorch is not installed: its rows are skipped" in out
    else:
        assert "| LeNets++ | PyTorch |" in out
