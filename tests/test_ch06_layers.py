"""Chapter 6 (layer backprop): the layer checks and the assignment graded by real nbgrader.

Unit tests (fast, no nbgrader) run the solution notebook's own code, with and without each
classic mistake, through the checks of ``autograder.chapters.layers`` and pin the hint a
student sees. The slow test grades every submission in one nbgrader run: the solution
scores full marks, the blank notebook zero, and each mistake loses exactly its cells.
"""
from __future__ import annotations

import math
import re

import pytest

from nbgrader_e2e import apply_edits, assert_grading
import torch

from autograder import REPO_ROOT
from autograder import notebook as nbfacts
from autograder.chapters import layers as ch
from autograder.checks import CheckFailure

A, NB = "06-layers", "layers.ipynb"
ALL = {"test_relu", "test_sigmoid", "test_linear_init", "test_linear", "test_flatten", "test_sequential", "test_mlp"}


def _solution_cells() -> dict[str, str]:
    return nbfacts.solutions(nbfacts.read(REPO_ROOT / "solutions" / A / NB))


def load_layers(bugs: dict[str, list[tuple[str, str]]] | None = None) -> dict:
    """The solution notebook's classes (Relu, Sigmoid, Linear, Flatten, Sequential), with ``bugs``."""
    namespace = {"torch": torch, "math": math}
    for grade_id, code in _solution_cells().items():
        exec(compile(apply_edits(code, (bugs or {}).get(grade_id, []), grade_id), grade_id, "exec"), namespace)
    return namespace


# Each classic mistake: text edits in solution cells, the test cells it must lose (and only
# those) with words each one's message must hold (the method and the output at fault), and
# the hint a student sees from the check of the first of those cells.
BUGS = {
    # The seed's bug. Inside the network the ReLU's grad_out is a fresh tensor from the Linear
    # after it, so the values stay right there: only the ReLU test catches it.
    "inplace_dout": ({"relu_solution": [("return torch.where(self.mask, grad_out, torch.zeros_like(grad_out))",
                                         "grad_out[~self.mask] = 0\n        return grad_out")]},
                     {"test_relu": ("Relu.backward modified its input `grad_out` in place", "torch.where(self.mask, grad_out, 0)")},
                     "Relu", "changed the upstream gradient"),
    # Linear outputs are never exactly 0, so the network test does not see the difference.
    "relu_grad_one_at_zero": ({"relu_solution": [("self.mask = x > 0", "self.mask = x >= 0")]},
                              {"test_relu": ("Relu.backward: wrong gradient dx", "at exactly 0 is 0")},
                              "Relu", "at exactly 0 is 0"),
    # The network has a Sigmoid: its gradients go wrong too.
    "sigmoid_backward_from_x": ({"sigmoid_solution": [("self.out = y", "self.out = x")]},
                                {"test_sigmoid": ("Sigmoid.backward: wrong gradient dx", "from the input x"),
                                 "test_mlp": ("layer 4 (Sigmoid).backward: wrong gradient dx", "from the input x")},
                                "Sigmoid", "from the input x"),
    # A self-consistent (in, out) layout: its own gradients agree, but it is not torch's, so
    # nn.Linear's weights do not fit it (and the network copies them in).
    "linear_layout_in_out": ({"linear_solution": [
        ("torch.empty(out_features, in_features,", "torch.empty(in_features, out_features,"),
        ("return x @ self.weight.T + self.bias", "return x @ self.weight + self.bias"),
        ("self.grad_weight = grad_out.T @ self.x", "self.grad_weight = self.x.T @ grad_out"),
        ("return grad_out @ self.weight", "return grad_out @ self.weight.T")]},
        {"test_linear_init": ("weight has shape (400, 300); expected (300, 400)", "torch's layout"),
         "test_linear": ("Linear.forward: wrong output", "x @ weight + bias"),
         "test_mlp": ("layer 1 (Linear(784, 32)).forward raised RuntimeError", "mat1 and mat2 shapes")},
        "Linear", "x @ weight + bias"),
    "grad_weight_transposed": ({"linear_solution": [("self.grad_weight = grad_out.T @ self.x",
                                                     "self.grad_weight = self.x.T @ grad_out")]},
                               {"test_linear": ("Linear.backward: wrong self.grad_weight", "grad_weight is transposed"),
                                "test_mlp": ("layer 5 (Linear(16, 10)).backward stored self.grad_weight with shape",
                                             "grad_weight is transposed")},
                               "Linear", "grad_weight is transposed"),
    # Caches only the first input; the network test runs two batches, so it loses too.
    "stale_cached_input": ({"linear_solution": [("self.x = x\n", "self.x = x if self.x is None else self.x\n")]},
                           {"test_linear": ("Linear.backward raised RuntimeError", "after a second forward"),
                            "test_mlp": ("(Linear(16, 10)).backward raised RuntimeError", "batch 2",
                                         "The batch before this one was right")},
                           "Linear", "second forward"),
    # The network's input is contiguous, so only the Flatten test (permuted input) sees it.
    "flatten_view": ({"flatten_solution": [("return x.reshape(x.shape[0], -1)", "return x.view(x.shape[0], -1)")]},
                     {"test_flatten": ("Flatten.forward raised RuntimeError", "x.reshape(...)` works on any input")},
                     "Flatten", "reshape"),
    "sequential_backward_not_reversed": ({"sequential_solution": [("for layer in reversed(self.layers):",
                                                                   "for layer in self.layers:")]},
                                         {"test_sequential": ("Sequential.backward ran the layers' backward in the "
                                                              "order [0, 1, 2]",),
                                          "test_mlp": ("raised RuntimeError", "look at how Sequential chains them")},
                                         "Sequential", "expected backward of layer 2, then 1, then 0"),
}


def run_check(which: str, layers: dict, **kw) -> None:
    """Run the hidden check for ``which`` (a layer name, "init", "Sequential" or "mlp") on CPU."""
    kw.setdefault("devices", ["cpu"])
    if which == "Relu":
        ch.check_layer(layers["Relu"], torch.nn.ReLU, name="Relu", cases=ch.elementwise_layer_cases,
                       hints=ch.HINTS["Relu"], allowed=ch.ALLOWED["Relu"], **kw)
    elif which == "Sigmoid":
        ch.check_layer(layers["Sigmoid"], torch.nn.Sigmoid, name="Sigmoid", cases=ch.elementwise_layer_cases,
                       hints=ch.HINTS["Sigmoid"], allowed=ch.ALLOWED["Sigmoid"], **kw)
    elif which == "Linear":
        ch.check_layer(layers["Linear"], ch.linear_module, name="Linear", cases=ch.linear_cases,
                       hints=ch.HINTS["Linear"], vary_batch=True, **kw)
    elif which == "Flatten":
        ch.check_layer(layers["Flatten"], ch.flatten_module, name="Flatten", cases=ch.flatten_cases,
                       vary_batch=True, **kw)
    elif which == "init":
        ch.check_linear_init(layers["Linear"], **kw)
    elif which == "Sequential":
        ch.check_sequential(layers["Sequential"], devices=kw["devices"])
    elif which == "mlp":
        ch.check_mlp(layers["Sequential"], layers["Flatten"], layers["Linear"], layers["Relu"], layers["Sigmoid"], **kw)
    else:
        raise ValueError(which)


@pytest.mark.parametrize("which", ["Relu", "Sigmoid", "Linear", "Flatten", "init", "Sequential", "mlp"])
def test_solution_passes_every_layer_check(which, capsys):
    run_check(which, load_layers())
    assert capsys.readouterr().out.startswith("OK:")


@pytest.mark.parametrize("bug", sorted(BUGS))
def test_each_classic_mistake_fails_its_check_with_its_hint(bug):
    edits, _, which, hint = BUGS[bug]
    with pytest.raises(CheckFailure, match=re.escape(hint)):
        run_check(which, load_layers(edits))


# Mistakes whose only effect is a wrong value: the hint each one must get.
VALUE_HINTS = {
    "relu_returns_local_derivative": ("Relu", "relu_solution", "return torch.where(self.mask, grad_out, torch.zeros_like(grad_out))",
                                      "return self.mask.to(grad_out.dtype)", "you returned the local derivative (x > 0)"),
    "sigmoid_returns_local_derivative": ("Sigmoid", "sigmoid_solution", "return grad_out * self.out * (1 - self.out)",
                                         "return self.out * (1 - self.out)", "the local derivative; backward returns grad_out"),
    "linear_without_bias": ("Linear", "linear_solution", "return x @ self.weight.T + self.bias",
                            "return x @ self.weight.T", "the bias is missing"),
    "dx_with_weight_transposed": ("Linear", "linear_solution", "return grad_out @ self.weight",
                                  "return grad_out @ self.weight.T", "you used weight.T"),
    "grad_weight_averaged": ("Linear", "linear_solution", "self.grad_weight = grad_out.T @ self.x",
                             "self.grad_weight = grad_out.T @ self.x / self.x.shape[0]", "divided by the batch size"),
    "grad_bias_averaged": ("Linear", "linear_solution", "grad_out.sum(dim=0)", "grad_out.mean(dim=0)", "the *sum* of grad_out"),
}


@pytest.mark.parametrize("mistake", sorted(VALUE_HINTS))
def test_each_value_hint_fires_for_its_mistake(mistake):
    which, cell, old, new, hint = VALUE_HINTS[mistake]
    with pytest.raises(CheckFailure, match=re.escape(hint)):
        run_check(which, load_layers({cell: [(old, new)]}))


def test_wrong_layout_is_named_by_the_init_check():
    layers = load_layers(BUGS["linear_layout_in_out"][0])
    with pytest.raises(CheckFailure, match=r"shape \(400, 300\); expected \(300, 400\)[\s\S]*torch's layout"):
        run_check("init", layers)


def test_init_check_names_a_bound_from_out_features():
    layers = load_layers({"linear_solution": [("bound = 1 / math.sqrt(in_features)", "bound = 1 / math.sqrt(out_features)")]})
    with pytest.raises(CheckFailure, match=r"looks like 1/sqrt\(out_features\)"):
        run_check("init", layers)


def test_init_check_refuses_a_zero_bias():
    bug = ("self.bias = torch.empty(out_features, device=device, dtype=dtype).uniform_(-bound, bound)",
           "self.bias = torch.zeros(out_features, device=device, dtype=dtype)")
    with pytest.raises(CheckFailure, match=r"bias is not spread like U"):
        run_check("init", load_layers({"linear_solution": [bug]}))


def test_init_check_follows_the_requested_dtype():
    bug = ("torch.empty(out_features, in_features, device=device, dtype=dtype)",
           "torch.empty(out_features, in_features, device=device)")
    with pytest.raises(CheckFailure, match=r"dtype torch.float32; expected cpu, torch.float64"):
        run_check("init", load_layers({"linear_solution": [bug]}))


def test_autograd_inside_backward_is_refused():
    bug = ("return grad_out * self.out * (1 - self.out)",
           "x = self.x.detach().requires_grad_(True)\n"
           "        return torch.autograd.grad(1 / (1 + torch.exp(-x)), x, grad_out)[0]")
    layers = load_layers({"sigmoid_solution": [bug, ("self.out = y", "self.out = y\n        self.x = x")]})
    with pytest.raises(CheckFailure, match="uses autograd"):
        run_check("Sigmoid", layers)


def test_torch_relu_under_another_name_is_refused():
    layers = load_layers({"relu_solution": [("return torch.where(self.mask, x, torch.zeros_like(x))",
                                             "return torch.nn.functional.relu(x)")]})
    with pytest.raises(CheckFailure, match="aten.relu"):
        run_check("Relu", layers)


def test_forward_that_modifies_x_is_refused():
    layers = load_layers({"relu_solution": [("return torch.where(self.mask, x, torch.zeros_like(x))",
                                             "x[~self.mask] = 0\n        return x")]})
    with pytest.raises(CheckFailure, match="modified its input `x`"):
        run_check("Relu", layers)


def test_missing_grad_attribute_is_named():
    layers = load_layers({"linear_solution": [("self.grad_bias = grad_out.sum(dim=0)", "self.db = grad_out.sum(dim=0)"),
                                              ("self.grad_bias = None", "pass")]})
    with pytest.raises(CheckFailure, match="Linear.backward stored no `self.grad_bias`"):
        run_check("Linear", layers)


@pytest.mark.slow
def test_solution_full_marks_blank_zero_and_each_bug_loses_exactly_its_cells(corpus_grades):
    assert_grading(corpus_grades, A, NB, ALL, {name: (edits, targeted) for name, (edits, targeted, _, _) in BUGS.items()})


@pytest.mark.parametrize("layer, bug", [
    ("Relu", ("return torch.where(self.mask, grad_out, torch.zeros_like(grad_out))", "grad_out[~self.mask] = 0\n        return grad_out")),
    ("Sigmoid", ("return grad_out * self.out * (1 - self.out)", "grad_out *= self.out * (1 - self.out)\n        return grad_out")),
    ("Linear", ("return grad_out @ self.weight", "dx = grad_out @ self.weight\n        grad_out.zero_()\n        return dx")),
])
def test_the_in_place_hint_gives_each_layer_its_own_fix(layer, bug):
    cell = {"Relu": "relu_solution", "Sigmoid": "sigmoid_solution", "Linear": "linear_solution"}[layer]
    with pytest.raises(CheckFailure) as err:
        run_check(layer, load_layers({cell: [bug]}))
    message = str(err.value)
    assert message.startswith(f"{layer}.backward modified its input `grad_out` in place")
    hint = message.split("Hint:", 1)[1]
    assert "where(mask, 0, grad_out)" not in hint  # the old hint had the arguments reversed
    if layer == "Relu":
        assert "torch.where(self.mask, grad_out, 0)" in hint and "grad_out * self.mask" in hint
    else:
        assert "mask" not in hint  # no mask in a Sigmoid or a Linear


def test_the_network_check_names_the_layer_and_the_output_at_fault():
    layers = load_layers({"sigmoid_solution": [("self.out = y", "self.out = x")]})
    with pytest.raises(CheckFailure) as err:
        run_check("mlp", layers)
    message = str(err.value)
    assert "run one layer at a time on torch's activations" in message
    assert "layer 4 (Sigmoid).backward: wrong gradient dx" in message and "from the input x" in message


def test_a_shape_error_inside_the_network_is_located():
    layers = load_layers(BUGS["linear_layout_in_out"][0])
    with pytest.raises(CheckFailure) as err:
        run_check("mlp", layers)
    message = str(err.value)
    assert "layer 1 (Linear(784, 32)).forward raised RuntimeError" in message and "mat1 and mat2" in message


def test_a_wrong_grad_bias_is_named_as_the_stored_output():
    layers = load_layers({"linear_solution": [("grad_out.sum(dim=0)", "grad_out.mean(dim=0)")]})
    with pytest.raises(CheckFailure, match=r"^Linear.backward: wrong self.grad_bias on cpu"):
        run_check("Linear", layers)
