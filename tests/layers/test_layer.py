"""Layer's PyTorch habits (issue 23): print(model) lists the sub-layers; load_state_dict(strict=False) returns the keys that did not match."""
import numpy as np
import pytest

import node


class MLP(node.Network):
    def __init__(self):
        self.body = node.Sequential(node.Linear(784, 256, rng=0), node.ReLU(), node.Dropout(0.5))
        self.heads = [node.Linear(256, 10, rng=1), node.Linear(256, 2, bias=False, rng=2)]
        self.scale = node.Parameter(np.ones(1))

    def forward(self, x):
        return self.heads[0](self.body(x))


def test_print_model_lists_sub_layers_indented_as_pytorch():
    assert repr(MLP()) == (
        "MLP(\n"
        "  (body): Sequential(\n"
        "    (0): Linear(in_features=784, out_features=256, bias=True)\n"
        "    (1): ReLU()\n"
        "    (2): Dropout(p=0.5)\n"
        "  )\n"
        "  (heads.0): Linear(in_features=256, out_features=10, bias=True)\n"
        "  (heads.1): Linear(in_features=256, out_features=2, bias=False)\n"
        ")"
    )
    assert str(node.Linear(3, 2)) == "Linear(in_features=3, out_features=2, bias=True)"
    assert repr(node.Sequential()) == "Sequential()"


def test_a_shared_layer_is_listed_once_and_extra_repr_comes_first():
    class Tied(node.Network):
        def __init__(self):
            self.encoder = node.Linear(4, 4)
            self.decoder = self.encoder

        def extra_repr(self):
            return "tied=True"

    assert repr(Tied()) == "Tied(\n  tied=True\n  (encoder): Linear(in_features=4, out_features=4, bias=True)\n)"
    assert [name for name, _ in MLP().named_children()] == ["body", "heads.0", "heads.1"]


def test_load_state_dict_strict_false_returns_missing_and_unexpected_keys():
    model = MLP()
    state = {k: v.copy() + 1 for k, v in MLP().state_dict().items()}
    del state["heads.0.W"]
    state["extra.W"] = np.zeros(3)
    before = model.state_dict()["heads.0.W"].copy()
    result = model.load_state_dict(state, strict=False)
    assert result == (["heads.0.W"], ["extra.W"])
    assert result.missing_keys == ["heads.0.W"] and result.unexpected_keys == ["extra.W"]
    np.testing.assert_array_equal(model.state_dict()["heads.0.W"], before)  # missing: left as it was
    np.testing.assert_array_equal(model.state_dict()["body.layers.0.W"], state["body.layers.0.W"])  # the rest loaded
    full = model.load_state_dict(MLP().state_dict())
    assert full == ([], []) and repr(full) == "<All keys matched successfully>"


def test_strict_loading_keeps_its_errors_and_changes_nothing():
    model = MLP()
    state = MLP().state_dict()
    state.pop("scale")
    before = {k: v.copy() for k, v in model.state_dict().items()}
    with pytest.raises(KeyError, match=r"MLP\.load_state_dict: missing \['scale'\], unexpected \[\] \(load_state_dict\(state, strict=False\)"):
        model.load_state_dict(state)
    wrong = {**MLP().state_dict(), "scale": np.ones(2)}
    with pytest.raises(ValueError, match=r"'scale' has shape \(2,\) in the checkpoint but \(1,\) in the model"):
        model.load_state_dict(wrong, strict=False)  # shapes are checked either way
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k])
    with pytest.raises(TypeError, match=r"^MLP\.load_state_dict: strict must be True or False, got str 'no'$"):
        model.load_state_dict(MLP().state_dict(), strict="no")


def test_load_from_a_file_takes_strict_too(tmp_path):
    small = node.Sequential(node.Linear(3, 2, rng=0))
    small.save(tmp_path / "small.npz")
    bigger = node.Sequential(node.Linear(3, 2, rng=1), node.Linear(2, 1, rng=2))
    assert bigger.load(tmp_path / "small.npz", strict=False) == (["layers.1.W", "layers.1.b"], [])
    np.testing.assert_array_equal(bigger[0].W.value, small[0].W.value)
    with pytest.raises(KeyError, match=r"small\.npz: Sequential\.load_state_dict: missing"):
        bigger.load(tmp_path / "small.npz")
