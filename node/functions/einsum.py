"""einsum: sums of products over named axes, and its gradient, which is again an einsum.

``einsum('ij,jk->ik', a, b)`` is Σⱼ a[i, j] b[j, k]. The output is linear in
each operand, so the gradient of operand i is the same sum of products with
operand i taken out and the upstream gradient put in (with the output's
letters), its result written with operand i's letters:

    ga = einsum('ik,jk->ij', gy, b)        gb = einsum('ij,ik->jk', a, gy)

Two cases need more than that, and get it from extra constant operands:

* a letter of operand i that appears nowhere else was summed over in that
  operand alone (``'ij->i'``): every element got the same gradient, so a vector
  of ones with that letter brings the axis back (``'i,j->ij'``);
* a letter repeated in operand i (``'ii->'``, a trace) read only its diagonal:
  the gradient goes onto the diagonal, by renaming the second occurrence and
  adding an identity matrix that ties the two names (``',ij->ij'`` with eye).

The gradient is an ``Einsum`` too, so it can be differentiated again.
"""
import string

from ..backend import get_array_module
from ..core import Function, as_node

_LETTERS = string.ascii_letters


class Einsum(Function):
    """``einsum(equation, *operands)`` with an explicit output (``'ij,jk->ik'``)."""

    differentiable_backward = True

    def __init__(self, operand_letters, output_letters):
        self.operand_letters, self.output_letters = tuple(operand_letters), output_letters

    @property
    def equation(self):
        return ",".join(self.operand_letters) + "->" + self.output_letters

    def forward(self, *xs):
        return get_array_module(*xs).einsum(self.equation, *xs)

    def backward(self, gy):
        xs = self.saved_inputs()
        return tuple(self.operand_gradient(i, xs, gy) if x.requires_grad else None for i, x in enumerate(self.inputs))

    def operand_gradient(self, i, xs, gy):
        """The gradient of operand ``i``: gy and the other operands summed into operand i's letters."""
        sizes = {c: n for letters, x in zip(self.operand_letters, self.inputs) for c, n in zip(letters, x.shape)}
        value = self.inputs[i].value
        xp = get_array_module(value)
        terms = [self.output_letters] + [letters for j, letters in enumerate(self.operand_letters) if j != i]
        operands = [gy] + [x for j, x in enumerate(xs) if j != i]
        used = set(self.equation)
        fresh = (c for c in _LETTERS if c not in used)
        target = ""
        for c in self.operand_letters[i]:
            if c in target:  # a repeated letter: a new name, tied to the old one by the identity
                name = next(fresh)
                terms.append(c + name)
                operands.append(xp.eye(sizes[c], dtype=value.dtype))
                c = name
            target += c
        present = set("".join(terms))
        for c in dict.fromkeys(target):
            if c not in present:  # summed in operand i alone: ones spread the gradient back over it
                terms.append(c)
                operands.append(xp.ones(sizes[c], dtype=value.dtype))
        return Einsum(terms, target)(*operands)


def _parse(equation, operands):
    """The letters of each operand and of the output; errors name what does not fit."""
    if not isinstance(equation, str):
        raise TypeError(f"einsum: equation must be a string like 'ij,jk->ik', got {type(equation).__name__}")
    equation = equation.replace(" ", "")
    if "..." in equation:
        raise ValueError("einsum: '...' (ellipsis) is not supported; name every axis with a letter")
    left, arrow, output = equation.partition("->")
    inputs = left.split(",")
    for part in inputs + [output]:
        bad = [c for c in part if c not in _LETTERS]
        if bad:
            raise ValueError(f"einsum: equation {equation!r} has {bad[0]!r}; axes are named by letters a-z, A-Z")
    if len(inputs) != len(operands):
        raise ValueError(f"einsum: equation {equation!r} names {len(inputs)} operands, got {len(operands)}")
    if not arrow:  # implicit output: the letters that appear once, in alphabetical order (as NumPy and PyTorch)
        counts = {}
        for c in left.replace(",", ""):
            counts[c] = counts.get(c, 0) + 1
        output = "".join(sorted(c for c, k in counts.items() if k == 1))
    return inputs, output


def _check_sizes(equation, inputs, output, operands):
    sizes = {}
    for k, (letters, x) in enumerate(zip(inputs, operands)):
        if len(letters) != x.ndim:
            raise ValueError(f"einsum: operand {k} has shape {x.shape} but {len(letters)} letters {letters!r} in {equation!r}")
        for c, n in zip(letters, x.shape):
            if sizes.setdefault(c, n) != n:
                raise ValueError(f"einsum: letter {c!r} is {sizes[c]} long in one place and {n} in another ({equation!r})")
    for c in output:
        if c not in sizes:
            raise ValueError(f"einsum: output letter {c!r} in {equation!r} is not in any operand")
    if len(set(output)) != len(output):
        raise ValueError(f"einsum: the output of {equation!r} names a letter twice")


def einsum(equation, *operands):
    """Sums of products over named axes, as ``numpy.einsum`` / ``torch.einsum``: ``einsum('ij,jk->ik', a, b)``.

    Every axis is named by a letter; letters missing from the output are
    summed over. With '->' the output is as written; without it, it is the
    letters that appear once, in alphabetical order. Ellipsis ('...') is not
    supported. Differentiable in every operand (the gradient is an einsum too).
    A list of operands (``einsum(eq, [a, b])``) is accepted as PyTorch does.
    """
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    operands = [as_node(x) for x in operands]
    if not operands:
        raise ValueError("einsum needs at least one operand")
    inputs, output = _parse(equation, operands)
    _check_sizes(equation, inputs, output, operands)
    return Einsum(inputs, output)(*operands)
