"""einsum: implicit and explicit outputs as NumPy's, the gradient equations, refused equations.

The op table checks values, gradients and second derivatives of matmul,
batch matmul, trace, diagonal, outer product, transpose, sum and a
three-operand form; here are more equations (against NumPy, with gradcheck)
and the error messages.
"""
import numpy as np
import pytest

import node
import node.functions as F

rng = np.random.default_rng(0)
A, B, S, V = rng.standard_normal((3, 4)), rng.standard_normal((4, 5)), rng.standard_normal((4, 4)), rng.standard_normal(4)

EQUATIONS = [
    ("ij,jk", (A, B)),
    ("ji,jk", (A.T.copy(), B)),
    ("Ab,bC", (A, B)),  # implicit output in alphabetical order: capitals first, as NumPy
    ("ij,ij->", (A, A * 2)),
    ("ii,i->i", (S, V)),
    ("iij->ji", (rng.standard_normal((3, 3, 2)),)),
    ("i,i", (V, V * 3)),
    ("ij,kl->ijkl", (A[:2], B[:2, :3])),
    ("i j , j k -> k i", (A, B)),
]


@pytest.mark.parametrize("equation, operands", EQUATIONS, ids=[e[0] for e in EQUATIONS])
def test_einsum_matches_numpy_and_its_gradient_checks(equation, operands):
    np.testing.assert_allclose(F.einsum(equation, *operands).numpy(), np.einsum(equation.replace(" ", ""), *operands), rtol=1e-12)
    assert node.gradcheck(lambda *xs: F.einsum(equation, *xs), *operands)
    assert node.gradgradcheck(lambda *xs: F.einsum(equation, *xs) ** 2, *operands)


def test_einsum_takes_a_list_of_operands_as_pytorch():
    np.testing.assert_allclose(F.einsum("ij,jk->ik", [A, B]).numpy(), A @ B)


REFUSED = [
    ("ellipsis", lambda: F.einsum("...ij,jk", A, B), ValueError, r"^einsum: '\.\.\.' \(ellipsis\) is not supported"),
    ("operand count", lambda: F.einsum("ij,jk->ik", A), ValueError, r"^einsum: equation 'ij,jk->ik' names 2 operands, got 1$"),
    ("letter count", lambda: F.einsum("ijk->i", A), ValueError, r"^einsum: operand 0 has shape \(3, 4\) but 3 letters 'ijk'"),
    ("sizes", lambda: F.einsum("ij,ik->jk", A, B), ValueError, r"^einsum: letter 'i' is 3 long in one place and 4 in another"),
    ("output letter", lambda: F.einsum("ij->k", A), ValueError, r"^einsum: output letter 'k' in 'ij->k' is not in any operand$"),
    ("output twice", lambda: F.einsum("ij->ii", A), ValueError, r"^einsum: the output of 'ij->ii' names a letter twice$"),
    ("digit", lambda: F.einsum("i1->i", A), ValueError, r"^einsum: equation 'i1->i' has '1'; axes are named by letters"),
    ("not a string", lambda: F.einsum(None, A), TypeError, r"^einsum: equation must be a string"),
    ("no operands", lambda: F.einsum("->"), ValueError, r"^einsum needs at least one operand$"),
]


@pytest.mark.parametrize("label, call, error, message", REFUSED, ids=[r[0] for r in REFUSED])
def test_bad_equations_are_refused(label, call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_einsum_matches_pytorch():
    torch = pytest.importorskip("torch")
    a, b = node.Node(A), node.Node(B)
    ta, tb = torch.tensor(A, requires_grad=True), torch.tensor(B, requires_grad=True)
    (F.einsum("ij,jk->ki", a, b) ** 2).sum().backward()
    (torch.einsum("ij,jk->ki", ta, tb) ** 2).sum().backward()
    np.testing.assert_allclose(a.grad, ta.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(b.grad, tb.grad.numpy(), rtol=1e-12)
