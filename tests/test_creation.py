"""node.creation: zeros ... randint on the active backend, their dtypes, requires_grad, errors and seeding."""
import threading

import numpy as np
import pytest

import node

F32 = np.dtype(np.float32)

# (name, call, expected NumPy value, expected dtype): each run on NumPy and on CuPy (the xp fixture).
VALUES = [
    ("zeros ints", lambda: node.zeros(2, 3), np.zeros((2, 3)), F32),
    ("zeros tuple", lambda: node.zeros((2, 3)), np.zeros((2, 3)), F32),
    ("zeros list", lambda: node.zeros([4]), np.zeros(4), F32),
    ("zeros 0-d", lambda: node.zeros(()), np.zeros(()), F32),
    ("zeros empty", lambda: node.zeros(0, 3), np.zeros((0, 3)), F32),
    ("zeros numpy ints", lambda: node.zeros(np.int64(2), np.int32(1)), np.zeros((2, 1)), F32),
    ("zeros int64", lambda: node.zeros(2, dtype=np.int64), np.zeros(2), np.dtype(np.int64)),
    ("zeros 'float64'", lambda: node.zeros(2, dtype="float64"), np.zeros(2), np.dtype(np.float64)),
    ("ones", lambda: node.ones(3), np.ones(3), F32),
    ("ones bool", lambda: node.ones(2, 2, dtype=bool), np.ones((2, 2)), np.dtype(bool)),
    ("full float", lambda: node.full((2, 2), 1.5), np.full((2, 2), 1.5), F32),
    ("full int", lambda: node.full(3, 7), np.full(3, 7), np.dtype(np.int64)),
    ("full bool", lambda: node.full(2, True), np.full(2, True), np.dtype(bool)),
    ("full dtype", lambda: node.full([2], 7, dtype=np.float64), np.full(2, 7.0), np.dtype(np.float64)),
    ("eye", lambda: node.eye(3), np.eye(3), F32),
    ("eye n m", lambda: node.eye(2, 4), np.eye(2, 4), F32),
    ("arange end", lambda: node.arange(5), np.arange(5), np.dtype(np.int64)),
    ("arange start end step", lambda: node.arange(2, 11, 3), np.arange(2, 11, 3), np.dtype(np.int64)),
    ("arange negative step", lambda: node.arange(5, 0, -2), np.array([5, 3, 1]), np.dtype(np.int64)),
    ("arange float", lambda: node.arange(0, 1, 0.25), np.array([0, 0.25, 0.5, 0.75]), F32),
    ("arange dtype", lambda: node.arange(4, dtype=np.float64), np.arange(4.0), np.dtype(np.float64)),
    ("linspace", lambda: node.linspace(0, 1, 5), np.linspace(0, 1, 5), F32),
    ("linspace one", lambda: node.linspace(2, 3, 1), np.array([2.0]), F32),
    ("zeros_like", lambda: node.zeros_like(node.ones(2, 3, dtype=np.float64)), np.zeros((2, 3)), np.dtype(np.float64)),
    ("ones_like int", lambda: node.ones_like(node.Node([1, 2])), np.ones(2), np.dtype(np.int64)),
    ("ones_like dtype", lambda: node.ones_like(node.zeros(2, dtype=np.float64), dtype=np.float32), np.ones(2), F32),
    ("full_like", lambda: node.full_like(node.zeros(2), 3), np.full(2, 3.0), F32),
]


@pytest.mark.parametrize("name, make, expected, dtype", VALUES, ids=[v[0] for v in VALUES])
def test_values_dtypes_and_device(xp, name, make, expected, dtype):
    x = make()
    assert isinstance(x.value, xp.ndarray), f"{name}: created on {type(x.value)}, not on the active backend"
    assert x.dtype == dtype
    assert x.shape == expected.shape
    np.testing.assert_array_equal(x.numpy(), expected)
    assert not x.requires_grad and x.creator is None


def test_the_default_float_dtype_is_followed():
    node.set_default_dtype(np.float64)
    for x in (node.zeros(2), node.ones(2), node.full(2, 0.5), node.eye(2), node.arange(0.0, 1.0), node.linspace(0, 1, 3),
              node.rand(2), node.randn(2)):
        assert x.dtype == np.float64


@pytest.mark.parametrize("make", [
    lambda: node.zeros(2, 3, requires_grad=True),
    lambda: node.ones(2, requires_grad=True, dtype=np.float64),
    lambda: node.full(2, 1.0, requires_grad=True),
    lambda: node.eye(2, requires_grad=True),
    lambda: node.arange(0.0, 3.0, requires_grad=True),
    lambda: node.linspace(0, 1, 3, requires_grad=True),
    lambda: node.rand(2, requires_grad=True),
    lambda: node.randn(2, requires_grad=True),
    lambda: node.zeros_like(np.zeros(2), requires_grad=True),
    lambda: node.randn_like(np.zeros(2), requires_grad=True),
], ids=["zeros", "ones", "full", "eye", "arange", "linspace", "rand", "randn", "zeros_like", "randn_like"])
def test_requires_grad_makes_a_leaf_that_gets_a_gradient(make):
    x = make()
    assert x.requires_grad
    (x * 2).sum().backward()
    np.testing.assert_allclose(node.asnumpy(x.grad), np.full(x.shape, 2.0))


def test_the_like_forms_keep_the_device(xp):
    ref = node.Node(xp.zeros((2, 3), dtype=np.float64))
    for x in (node.zeros_like(ref), node.ones_like(ref), node.full_like(ref, 2), node.rand_like(ref), node.randn_like(ref)):
        assert isinstance(x.value, xp.ndarray) and x.shape == (2, 3) and x.dtype == np.float64


def test_device_argument_chooses_numpy_for_one_call(xp):
    assert isinstance(node.zeros(2, device="cpu").value, np.ndarray)
    assert isinstance(node.rand(2, device="numpy").value, np.ndarray)


def test_cupy_arrays_are_made_on_the_device(xp):
    if xp is np:
        pytest.skip("the CuPy half of this test")
    for x in (node.zeros(2), node.arange(3), node.eye(2), node.linspace(0, 1, 2), node.rand(2), node.randn(2), node.randint(3, (2,))):
        assert isinstance(x.value, xp.ndarray) and not isinstance(x.value, np.ndarray)


# ---- random -----------------------------------------------------------------------------------
def test_rand_is_uniform_in_zero_one():
    x = node.rand(20000, rng=0).numpy()
    assert x.min() >= 0 and x.max() < 1
    assert abs(x.mean() - 0.5) < 0.01 and abs(x.var() - 1 / 12) < 0.005


def test_rand_never_reaches_one_after_rounding_to_float32():
    class AlmostOne(np.random.Generator):
        def random(self, shape):
            return np.full(shape, 1 - 2.0**-30)

    x = node.rand(3, rng=AlmostOne(np.random.PCG64(0)))
    assert x.dtype == np.float32 and x.numpy().max() < 1


def test_randn_is_standard_normal():
    x = node.randn(20000, rng=1, dtype=np.float64).numpy()
    assert abs(x.mean()) < 0.03 and abs(x.std() - 1) < 0.03


@pytest.mark.parametrize("args, kwargs, low, high, shape", [
    ((10, (2, 3)), {}, 0, 10, (2, 3)),
    ((3, 5, (100,)), {}, 3, 5, (100,)),
    ((-2, 2), {"size": 50}, -2, 2, (50,)),
    ((4,), {"size": (3, 3)}, 0, 4, (3, 3)),
], ids=["high size", "low high size", "negative low", "keyword size"])
def test_randint_forms(args, kwargs, low, high, shape):
    x = node.randint(*args, rng=0, **kwargs)
    assert x.dtype == np.int64 and x.shape == shape and not x.requires_grad
    values = x.numpy()
    assert values.min() >= low and values.max() < high
    assert len(np.unique(values)) == min(high - low, values.size) or values.size < 10


def test_randint_float_dtype():
    x = node.randint(0, 3, (10,), dtype=np.float32, rng=0)
    assert x.dtype == np.float32 and set(x.numpy().tolist()) <= {0.0, 1.0, 2.0}


RANDOM = [
    lambda **kw: node.rand(3, 2, **kw),
    lambda **kw: node.randn((4,), **kw),
    lambda **kw: node.randint(0, 100, (5,), **kw),
    lambda **kw: node.rand_like(np.zeros(3), **kw),
    lambda **kw: node.randn_like(np.zeros(3), **kw),
]
RANDOM_IDS = ["rand", "randn", "randint", "rand_like", "randn_like"]


@pytest.mark.parametrize("make", RANDOM, ids=RANDOM_IDS)
def test_manual_seed_makes_runs_repeat(xp, make):
    node.manual_seed(123)
    first = [make().numpy() for _ in range(2)]
    node.manual_seed(123)
    again = [make().numpy() for _ in range(2)]
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.array_equal(first[0], first[1]), "two calls after one seed must differ"
    node.manual_seed(124)
    assert not np.array_equal(make().numpy(), first[0])


@pytest.mark.parametrize("make", RANDOM, ids=RANDOM_IDS)
def test_rng_and_generator_arguments(make):
    np.testing.assert_array_equal(make(rng=5).numpy(), make(rng=5).numpy())
    np.testing.assert_array_equal(make(generator=np.random.default_rng(5)).numpy(), make(rng=5).numpy())
    with pytest.raises(TypeError, match="rng= or generator="):
        make(rng=1, generator=1)
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator, an int seed or None, got str"):
        make(rng="seed")


def test_the_same_seed_gives_the_same_numbers_on_every_backend(xp):
    node.manual_seed(7)
    on_backend = node.randn(5).numpy()
    with node.using_config("backend", "numpy"):
        node.manual_seed(7)
        on_host = node.randn(5).numpy()
    np.testing.assert_array_equal(on_backend, on_host)


def test_global_numpy_state_is_neither_used_nor_changed():
    np.random.seed(0)
    before = np.random.get_state()[1].copy()
    node.manual_seed(1)
    a = node.rand(4).numpy()
    np.random.seed(99)
    node.manual_seed(1)
    np.testing.assert_array_equal(node.rand(4).numpy(), a)
    np.random.seed(0)
    node.rand(4)
    np.testing.assert_array_equal(np.random.get_state()[1], before)


def test_seeds_are_per_thread():
    results = {}

    def draw(name, seed):
        node.manual_seed(seed)
        results[name] = [node.randn(6).numpy() for _ in range(3)]

    node.manual_seed(0)
    main = [node.randn(6).numpy() for _ in range(3)]
    threads = [threading.Thread(target=draw, args=(name, seed)) for name, seed in (("a", 0), ("b", 0), ("c", 1))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for name in ("a", "b"):
        for got, want in zip(results[name], main):
            np.testing.assert_array_equal(got, want)
    assert not np.array_equal(results["c"][0], main[0])


def test_a_thread_without_manual_seed_is_not_seeded_by_another():
    node.manual_seed(0)
    seeded = node.rand(8).numpy()
    node.manual_seed(0)
    results = []
    t = threading.Thread(target=lambda: results.append(node.rand(8).numpy()))
    t.start()
    t.join()
    assert not np.array_equal(results[0], seeded)


# ---- bad arguments ------------------------------------------------------------------------------
ERRORS = [
    (lambda: node.zeros(-1), ValueError, r"zeros: size must be an integer >= 0, got -1"),
    (lambda: node.ones(2, -3), ValueError, r"ones: size\[1\] must be an integer >= 0, got -3"),
    (lambda: node.zeros((2, -3)), ValueError, r"zeros: size\[1\] must be an integer >= 0, got -3"),
    (lambda: node.zeros(2.0), TypeError, r"zeros: size must be an integer >= 0, got float 2.0"),
    (lambda: node.rand(2, "3"), TypeError, r"rand: size\[1\] must be an integer >= 0, got str '3'"),
    (lambda: node.randn(True), TypeError, r"randn: size must be an integer >= 0, got bool True"),
    (lambda: node.zeros(np.array([2, 3])), TypeError, r"zeros: size must be integers or a tuple of integers, got a ndarray"),
    (lambda: node.zeros(2, dtype="float3"), TypeError, r"zeros: dtype must be a NumPy dtype or its name .*got 'float3'"),
    (lambda: node.ones(2, dtype=str), TypeError, r"ones: dtype must be a numeric dtype .*got <U0"),
    (lambda: node.rand(2, dtype=np.int64), TypeError, r"rand: dtype must be a floating-point dtype .*got int64"),
    (lambda: node.randn(2, dtype=np.complex64), TypeError, r"randn: dtype must be a floating-point dtype .*got complex64"),
    (lambda: node.randint(3, (2,), dtype=bool), TypeError, r"randint: dtype must be an integer or floating-point dtype, got bool"),
    (lambda: node.zeros(2, requires_grad=1), TypeError, r"zeros: requires_grad must be True or False, got int 1"),
    (lambda: node.zeros(2, dtype=np.int32, requires_grad=True), TypeError, r"zeros: requires_grad=True needs a floating-point dtype, got int32"),
    (lambda: node.arange(3, requires_grad=True), TypeError, r"arange: requires_grad=True needs a floating-point dtype, got int64"),
    (lambda: node.randint(3, (2,), requires_grad=True), TypeError, r"randint: requires_grad=True needs a floating-point dtype"),
    (lambda: node.full((2,), "a"), TypeError, r"full: fill_value must be a number, got str 'a'"),
    (lambda: node.full_like(np.zeros(2), None), TypeError, r"full_like: fill_value must be a number, got NoneType"),
    (lambda: node.eye(-2), ValueError, r"eye: n must be an integer >= 0, got -2"),
    (lambda: node.eye(2, 1.5), TypeError, r"eye: m must be an integer >= 0, got float 1.5"),
    (lambda: node.arange(0, 5, 0), ValueError, r"arange: step must not be 0"),
    (lambda: node.arange(5, 0), ValueError, r"arange: end 0 cannot be reached from start 5 in steps of 1"),
    (lambda: node.arange("5"), TypeError, r"arange: end must be a real number, got str '5'"),
    (lambda: node.arange(0, float("inf")), ValueError, r"arange: end must be finite, got inf"),
    (lambda: node.linspace(0, 1, -1), ValueError, r"linspace: steps must be an integer >= 0, got -1"),
    (lambda: node.linspace(0, 1, 2.5), TypeError, r"linspace: steps must be an integer >= 0, got float 2.5"),
    (lambda: node.randint(5, 5, (2,)), ValueError, r"randint: high must be greater than low, got low=5, high=5"),
    (lambda: node.randint(5), TypeError, r"randint: size is required"),
    (lambda: node.randint(0.5, 3, (2,)), TypeError, r"randint: low must be an integer, got float 0.5"),
    (lambda: node.zeros_like([1, 2]), TypeError, r"zeros_like: expected a Node or an array .*got list"),
    (lambda: node.zeros(2, device="tpu"), ValueError, r"zeros: device must be 'cpu' or 'gpu'.*got 'tpu'"),
]


@pytest.mark.parametrize("call, error, message", ERRORS, ids=[e[2][:40] for e in ERRORS])
def test_bad_arguments_are_named(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_torch_agrees_where_it_is_installed():
    torch = pytest.importorskip("torch")
    for ours, theirs in [
        (node.arange(2, 11, 3), torch.arange(2, 11, 3)),
        (node.arange(0, 1, 0.3), torch.arange(0, 1, 0.3)),
        (node.linspace(-1, 1, 7), torch.linspace(-1, 1, 7)),
        (node.full((2,), 3), torch.full((2,), 3)),
        (node.eye(2, 3), torch.eye(2, 3)),
    ]:
        assert str(ours.dtype) == str(theirs.dtype).replace("torch.", "")
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6, atol=1e-7)
