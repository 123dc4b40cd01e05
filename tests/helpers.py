"""Helpers shared by the tests: random inputs in the domains ops need, and a layer gradient check.

Import them as ``from helpers import randn`` (tests/ is on ``sys.path`` through
``conftest.py``); no test module imports another test module.
"""
import numpy as np

import node


def randn(xp, rng, shape):
    """Standard normal float64 values of ``shape`` on backend ``xp``."""
    return xp.asarray(rng.standard_normal(shape))


def away_from_zero(xp, rng, shape, margin=0.1):
    """Values with |x| >= margin, so kinks (relu, abs) sit outside the ε-neighbourhood of a finite difference."""
    v = rng.standard_normal(shape)
    return xp.asarray(np.sign(v + (v == 0)) * (margin + np.abs(v)))


def positive(xp, rng, shape, low=0.5):
    """Values in [low, low + 1): inside the domain of log, sqrt and a ** b."""
    return xp.asarray(low + rng.random(shape))


def distinct(xp, rng, shape):
    """Values at least 0.05 apart, so that max, min and max pooling have no ties near a finite difference."""
    size = int(np.prod(shape))
    return xp.asarray(rng.permutation(size).reshape(shape) * 0.05 - size * 0.025)


def probabilities(xp, rng, shape):
    """Rows (last axis) of positive numbers summing to one: soft targets."""
    p = rng.random(shape) + 0.1
    return xp.asarray(p / p.sum(axis=-1, keepdims=True))


def labels(xp, rng, n, classes):
    """``n`` integer class labels below ``classes``."""
    return xp.asarray(rng.integers(0, classes, n))


def gradcheck_layer(layer, *inputs, **kwargs):
    """gradcheck a layer with respect to its inputs and all its parameters.

    gradcheck works on float64 copies, so each call puts those copies where the
    layer keeps its parameters before running it.
    """
    from node.layers.layer import Parameter, _assign

    entries = [(owner, key, value) for _, owner, key, value in layer._walk() if isinstance(value, Parameter)]

    def fn(*args):
        for (owner, key, _), w in zip(entries, args[len(inputs):]):
            _assign(owner, key, w)
        return layer(*args[: len(inputs)])

    try:
        return node.gradcheck(fn, *inputs, *[p.value for _, _, p in entries], **kwargs)
    finally:
        for owner, key, original in entries:  # put the layer's own Parameters back
            _assign(owner, key, original)
