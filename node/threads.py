"""BLAS threads sized to the cores that are free, around node's own matrix products.

NumPy's BLAS (OpenBLAS in NumPy's wheels) splits each matrix product over its
threads, which spin-wait for one another at the end of the product. When other
processes keep the cores busy, a waiting thread loses its time slice, and a
product that takes 0.1 ms can take milliseconds: a conv net step, which makes
thousands of products, then runs several times slower with two BLAS threads
than with one (see "BLAS threads when the cores are shared" in
docs/performance.md).

``blas_threads()`` returns this thread's governor, a context manager. The core
wraps every op whose forward runs matrix products (``Function.uses_blas``) and
the whole backward walk in it (and ``node.compile`` each replayed step). On the
outermost enter it decides how many BLAS threads to use:

    threads = cores this process may use (``os.sched_getaffinity``), less the
              tasks other processes are running now, at least 1,
              at most what the BLAS library is set to now

where "the tasks running now" is the count of runnable tasks in the 4th field
of ``/proc/loadavg`` (the smallest of ``SAMPLES`` readings in a row) less this
process's own running threads (read from ``/proc/self/task/*/stat``). It looks
at ``/proc`` at most once per ``CHECK_INTERVAL`` seconds per thread; a
thread's first look decides at once, and later the decision changes only when
two looks in a row agree, so that a process that runs for a moment does not
change it. If the decision is fewer threads than the library has, the
governor sets it through threadpoolctl's controller for NumPy's BLAS (found
once, the first time it is needed) and, on the outermost exit, sets the
library back to the value it found. Between node's calls, and for every other
library in the process, nothing changes; on a quiet machine nothing is set at
all.

Nested use costs one counter: only the outermost enter decides. The state is
per thread (``threading.local``), like ``node.Config``; the BLAS thread count
itself belongs to the whole process, so a product another thread runs while
a governor is lowering it runs with the lowered count.

OpenBLAS does not promise the same bits with one thread as with two (a
(128, 784) @ (784, 256) float32 product differs in the last bits), so with the
governor on, a computation repeated while the machine's load changes can
differ in the last bits. Where bit-for-bit repeatability matters (comparing an
eager step with its ``node.compile`` replay, say), call
``set_enabled(False)`` in that thread, or fix the thread count for the
process (``OPENBLAS_NUM_THREADS=1``: the governor never raises it).

It does nothing when threadpoolctl is not installed, when it finds no BLAS
library in NumPy, or on platforms without ``/proc/loadavg``, and
``set_enabled(False)`` turns it off in the calling thread.
"""
import os
import threading
import time
import warnings

CHECK_INTERVAL = 0.25  # seconds between two looks at /proc in one thread
SAMPLES = 3  # readings of /proc/loadavg per look

_NOT_LOOKED = object()
_blas = _NOT_LOOKED  # threadpoolctl's controller for NumPy's BLAS, None when there is none
_ownership = None  # threadpoolctl's per-thread count of limits in force, when it has one


def read_loadavg():
    """The text of ``/proc/loadavg`` ("0.52 0.58 0.59 3/467 12345"), or None where there is none."""
    try:
        with open("/proc/loadavg") as f:
            return f.read()
    except OSError:
        return None


def own_running_threads():
    """How many of this process's threads are running or runnable now (state R in ``/proc/self/task/*/stat``)."""
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return 1
    running = 0
    for task in tasks:
        try:
            with open(f"/proc/self/task/{task}/stat", "rb") as f:
                stat = f.read()
        except OSError:  # the thread ended meanwhile
            continue
        if stat[stat.rfind(b")") + 2 : stat.rfind(b")") + 3] == b"R":
            running += 1
    return max(running, 1)  # the thread asking is running


def usable_cores():
    """How many cores this process may run on (its CPU affinity where the platform says)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def cores_free(loadavg=None, own=None, cores=None, all_cores=None):
    """How many of this process's cores other processes leave free now, or None where that cannot be read.

    ``loadavg`` is the text of ``/proc/loadavg`` (when None, it is read
    ``SAMPLES`` times in a row and the smallest count of running tasks kept,
    so that a task that runs for microseconds is not taken for a busy
    process), ``own`` the count of this process's running threads (read when
    None, just before and just after ``/proc/loadavg``, the larger count
    kept), ``cores`` the cores this process may use and ``all_cores`` the
    machine's. The other processes' running tasks (``others``) spread over all
    the machine's cores, so the answer is ``min(cores, all_cores - others)``,
    at least 0.
    """
    before = own_running_threads() if own is None and loadavg is None else 0
    texts = [read_loadavg() for _ in range(SAMPLES)] if loadavg is None else [loadavg]
    try:
        running = min(int(text.split()[3].split("/")[0]) for text in texts)
    except (AttributeError, IndexError, ValueError):
        return None
    cores = usable_cores() if cores is None else cores
    all_cores = max(os.cpu_count() or cores, cores) if all_cores is None else all_cores
    others = 0
    if running > 1:
        if own is None:  # a BLAS worker of ours may stop spinning between two reads: count it if it ran at either
            own = max(before, own_running_threads())
        others = max(0, running - own)
    return max(0, min(cores, all_cores - others))


def blas_controller():
    """threadpoolctl's controller for NumPy's BLAS library, or None (no threadpoolctl, or no BLAS it knows).

    Looked for once per process, the first time a governor needs it: threadpoolctl
    lists the libraries loaded then; NumPy's own is preferred over another
    process-wide BLAS (SciPy's, say) that happens to be loaded.
    """
    global _blas, _ownership
    if _blas is not _NOT_LOOKED:
        return _blas
    found = None
    try:
        import numpy
        import threadpoolctl

        with warnings.catch_warnings():  # threadpoolctl may warn about OpenMP runtimes: not node's to print
            warnings.simplefilter("ignore")
            libraries = threadpoolctl.ThreadpoolController().lib_controllers
        blas = [lib for lib in libraries if lib.user_api == "blas"]
        numpy_home = os.path.dirname(os.path.dirname(os.path.realpath(numpy.__file__)))
        ours = [lib for lib in blas if os.path.realpath(lib.filepath or "").startswith(os.path.join(numpy_home, "numpy"))]
        openblas = [lib for lib in blas if lib.internal_api == "openblas"]
        found = (ours or openblas or blas or [None])[0]
        _ownership = getattr(threadpoolctl, "CONTROLLING_THREAD_OWNERSHIP", None)
    except Exception:  # no threadpoolctl, or one that cannot read this platform's libraries: do nothing
        found = None
    _blas = found
    return found


class Governor:
    """One thread's BLAS-thread governor: ``with governor:`` around node's BLAS-heavy calls (see the module docstring).

    ``limit`` is the decision in force (0: leave the library as it is),
    ``seen`` what the last look at ``/proc`` said (None before the first),
    ``depth`` how many ``with`` blocks are open, ``restore`` the count to set
    back on the outermost exit (0: nothing was changed).
    """

    __slots__ = ("depth", "enabled", "limit", "next_check", "restore", "seen")

    def __init__(self):
        self.depth = 0
        self.enabled = True
        self.limit = 0
        self.next_check = 0.0
        self.restore = 0
        self.seen = None

    def look(self, now):
        """Decide again: the first look decides at once, later ones change the decision when two in a row agree."""
        self.next_check = now + CHECK_INTERVAL
        found = self.decide()
        if self.seen is None or found == self.seen:
            self.limit = found
        self.seen = found

    def decide(self):
        """Look at ``/proc`` now: the BLAS threads for this thread's next blocks (0: no change)."""
        if blas_controller() is None:
            return 0
        cores = usable_cores()
        free = cores_free(cores=cores)
        if free is None or free >= cores:
            return 0
        return max(1, free)

    def __enter__(self):
        depth = self.depth
        self.depth = depth + 1
        if depth or not self.enabled:
            return self
        now = time.monotonic()
        if now >= self.next_check:
            self.look(now)
        if self.limit:
            self._lower(self.limit)
        return self

    def _lower(self, limit):
        blas = _blas
        if blas is None or blas is _NOT_LOOKED:
            return
        try:
            current = blas.get_num_threads()
        except Exception:  # a library that cannot say: leave it as it is
            return
        if current is None or current <= limit:
            return
        if _ownership is not None:
            _ownership.increment()  # as threadpool_limits does: this thread holds OpenBLAS until the restore
        self.restore = current
        try:
            blas.set_num_threads(limit)
        except Exception:  # a library that refuses: leave it as it is
            self.restore = 0
            _release()

    def __exit__(self, *exc_info):
        self.depth -= 1
        if self.restore and not self.depth:
            restore, self.restore = self.restore, 0
            try:
                _blas.set_num_threads(restore)
            finally:
                _release()
        return False


def _release():
    """End the hold ``_lower`` took (threadpoolctl frees OpenBLAS for other threads when this thread holds no limit)."""
    if _ownership is not None:
        _ownership.decrement()


_local = threading.local()


def blas_threads():
    """This thread's governor: ``with blas_threads():`` around a call that runs matrix products (see the module docstring)."""
    try:
        return _local.governor
    except AttributeError:
        governor = _local.governor = Governor()
        return governor


def set_enabled(enabled):
    """Turn the governor on or off in the calling thread (on by default); returns the previous setting.

    Off, node leaves the BLAS library's thread count alone, as before node.threads existed.
    """
    governor = blas_threads()
    previous, governor.enabled = governor.enabled, bool(enabled)
    governor.next_check = 0.0  # decide afresh when turned back on
    return previous


def enabled():
    """Whether the governor is on in the calling thread."""
    return blas_threads().enabled
