"""Chapter 6 (layer backprop): the rule table, the cases, references, hints and in-place
advice of each layer, and Linear's initialisation check.

The machinery that drives an object with state (:mod:`autograder.checks.objects`) and a
network of the student's layers (:mod:`autograder.checks.network`) lives in ``checks/``;
this module gives it the chapter's data.

The layer contract the assignment states (and these checks enforce):

- ``layer.forward(x)`` returns the output and caches what backward needs;
- ``layer.backward(grad_out)`` returns ``dx`` (shaped like the last forward's ``x``) and, for a
  layer with parameters, stores ``grad_weight`` / ``grad_bias`` shaped like ``weight`` /
  ``bias``; it never calls autograd and never modifies ``grad_out`` or ``x``;
- backward uses the *last* forward's input;
- ``Linear(in_features, out_features, device=None, dtype=None)`` keeps torch's layout:
  ``weight`` (out, in), ``bias`` (out,), ``y = x @ weight.T + bias``, both drawn from
  U(-1/sqrt(in), 1/sqrt(in)), and ``weight`` / ``bias`` may be reassigned (copied from an
  ``nn.Linear``).

Every check returns None (a test cell's last value is read by nbgrader as partial credit).
"""
from __future__ import annotations

from typing import Callable, Iterable, Iterator

import torch

from ..checks import Case, randn
from ..checks import objects
from ..checks.hints import matches
from ..checks.network import check_network, check_sequential
from ..checks.objects import check_linear_init
from ..checks.ops import LINEAR as LINEAR_OPS
from ..checks.rules import Exercise, Rule
from ..checks.shortcuts import AUTOGRAD, RELU, SIGMOID

#: The rules of each graded class (every method of it): the basic operations; a Linear
#: may also run ``addmm`` (``F.linear``). What would give a backward away, autograd, is a
#: shortcut for every layer.
EXERCISE = Exercise("06-layers", (
    Rule("Relu", ("test_relu", "test_mlp"), (RELU, AUTOGRAD)),
    Rule("Sigmoid", ("test_sigmoid", "test_mlp"), (SIGMOID, AUTOGRAD)),
    Rule("Linear", ("test_linear_init", "test_linear", "test_mlp"), (AUTOGRAD,), plus=LINEAR_OPS),
    Rule("Flatten", ("test_flatten", "test_mlp"), (AUTOGRAD,)),
    Rule("Sequential", ("test_sequential", "test_mlp"), (AUTOGRAD,), plus=LINEAR_OPS),
))
#: The aten operators each class's methods may run (the recorder's allow-list).
ALLOWED = EXERCISE.allowed()

# Messages for mistakes that are broken rules rather than wrong values.
_GRAD_OUT_SHARED = ("backward changed the upstream gradient `grad_out` it was given. The caller may still need it: "
                    "when a value feeds two layers (a skip connection, a shared weight), the same `grad_out` goes to "
                "both, and the second one then sees what you wrote into it. ")
#: What to do instead of writing into ``grad_out``, for each layer (the fix that is right for it).
INPLACE_HINTS = {
    "Relu": _GRAD_OUT_SHARED + ("Build a new tensor from the mask forward saved (self.mask = x > 0): "
                            "`torch.where(self.mask, grad_out, 0)` or `grad_out * self.mask`, not `grad_out[~self.mask] = 0`."),
    "Sigmoid": _GRAD_OUT_SHARED + ("Return a new tensor, `grad_out * self.out * (1 - self.out)`, not `grad_out *= ...` "
                               "or `grad_out.mul_(...)`."),
    "Linear": _GRAD_OUT_SHARED + ("Compute everything from `grad_out` without writing into it: `grad_out @ self.weight`, "
                              "`grad_out.T @ self.x` and `grad_out.sum(dim=0)` are new tensors already."),
    "Flatten": _GRAD_OUT_SHARED + "Return a new view or copy, `grad_out.reshape(self.shape)`, not `grad_out.resize_(...)`.",
}
INPLACE_HINT = _GRAD_OUT_SHARED + "Compute a new tensor from `grad_out` instead of writing into it."


def inplace_hint(layer: str) -> Callable[[str], str]:
    """The in-place advice for ``layer``'s backward, as ``check_example(inplace_hint=...)`` takes it."""
    return lambda _label: INPLACE_HINTS.get(layer, INPLACE_HINT)
def _relu_at_zero(x, g, *_, **__):
    """The mistake "gradient 1 at x = 0" (heaviside, not a basic operator: no working backward here)."""
    return g * torch.heaviside(x, torch.ones_like(x))


def _sigmoid_from_input(x, g, *_, **__):
    return g * x * (1 - x)


def _sigmoid64(x):
    return torch.sigmoid(x.double())


#: Hints keyed by layer, then by what is compared: "output", "dx", "grad_weight", "grad_bias",
#: "init". Mismatch hints see ``case.args == (x, grad_out, weight, bias)`` (weight and bias only
#: for Linear).
HINTS = {
    "Relu": {
        "output": [],
        "dx": [
            matches(_relu_at_zero, "ReLU's gradient at exactly 0 is 0 (as in torch): the mask is x > 0, not x >= 0."),
            matches(lambda x, g, *_a, **_k: (x > 0).to(x.dtype),
                    "you returned the local derivative (x > 0); backward returns grad_out times it."),
        ],
    },
    "Sigmoid": {
        "output": [],
        "dx": [
            matches(_sigmoid_from_input,
                    "you computed grad_out * x * (1 - x) from the input x: the formula is grad_out * y * (1 - y) "
                    "with y the output saved by forward."),
            matches(lambda x, g, *_a, **_k: (lambda y: y * (1 - y))(_sigmoid64(x)),
                    "you returned y * (1 - y), the local derivative; backward returns grad_out * y * (1 - y)."),
        ],
    },
    "Linear": {
        "output": [
            matches(lambda x, g, w, b, **_k: x @ w + b,
                    "you computed x @ weight + bias: torch's layout stores weight as (out_features, "
                    "in_features), so y = x @ weight.T + bias."),
            matches(lambda x, g, w, b, **_k: x @ w.T,
                    "the bias is missing: y = x @ weight.T + bias."),
        ],
        "dx": [
            matches(lambda x, g, w, b, **_k: g @ w.T,
                    "dx = grad_out @ weight (weight is (out, in), grad_out is (N, out), dx is (N, in)); you used weight.T."),
        ],
        "grad_weight": [
            matches(lambda x, g, w, b, **_k: x.T @ g,
                    "grad_weight is transposed: it has weight's shape (out, in), so grad_weight = grad_out.T @ x, "
                    "not x.T @ grad_out."),
            matches(lambda x, g, w, b, **_k: (g.T @ x) / x.shape[0],
                    "grad_weight is divided by the batch size: backward sums over the batch (the loss "
                    "already holds any mean)."),
        ],
        "grad_bias": [
            matches(lambda x, g, w, b, **_k: g.mean(0),
                    "grad_bias is the *sum* of grad_out over the batch (dim 0), not its mean."),
        ],
    },
    "Flatten": {"output": [], "dx": []},
}


# --------------------------------------------------------------------------- cases

def elementwise_layer_cases(device: str, dtype: torch.dtype, extremes: bool = True) -> Iterator[Case]:
    """Inputs for ReLU / Sigmoid: every shape family; extremes include exact zeros."""
    from ..checks.cases import elementwise_cases

    yield from elementwise_cases(device, dtype, extremes=extremes)
    # A batch of images, with a few exact zeros where ReLU's mask decides the gradient.
    x = randn((2, 1, 4, 4), dtype, device, 40)
    x.view(-1)[::5] = 0.0
    yield Case("4-d with exact zeros", (x,))


def plain_layer_cases(device: str, dtype: torch.dtype) -> Iterator[Case]:
    """:func:`elementwise_layer_cases` without the extreme values (what the visible tests use)."""
    return elementwise_layer_cases(device, dtype, extremes=False)


def linear_cases(device: str, dtype: torch.dtype) -> Iterator[Case]:
    """``Case(label, (x,), {"in_features": i, "out_features": o})``; square first (it hides a
    wrong layout behind the right shape, so the hint can name it)."""
    shapes = [("square (in == out == N)", 5, 5, 5), ("N=4, in=3, out=6", 4, 3, 6),
              ("batch of 1", 1, 7, 2), ("N=8, in=20, out=10", 8, 20, 10)]
    for i, (label, n, fan_in, fan_out) in enumerate(shapes):
        yield Case(label, (randn((n, fan_in), dtype, device, 60 + i, scale=1.0),),
                   {"in_features": fan_in, "out_features": fan_out})
    base = randn((6, 8), dtype, device, 70, scale=1.0)
    yield Case("non-contiguous x", (base.t()[::2],), {"in_features": 6, "out_features": 3})


def flatten_cases(device: str, dtype: torch.dtype) -> Iterator[Case]:
    """Inputs for Flatten (start_dim=1): images (N, 28, 28) and (N, 1, 28, 28), 3-d, 2-d, non-contiguous."""
    yield Case("images (N, 28, 28)", (randn((3, 28, 28), dtype, device, 80),))
    yield Case("images with a channel dim (N, 1, 28, 28)", (randn((2, 1, 28, 28), dtype, device, 84),))
    yield Case("3-d", (randn((2, 3, 4), dtype, device, 81),))
    yield Case("2-d (already flat)", (randn((4, 5), dtype, device, 82),))
    yield Case("non-contiguous 4-d (permuted)", (randn((2, 4, 3, 5), dtype, device, 83).permute(0, 2, 3, 1),))


def flatten_module() -> torch.nn.Module:
    """The reference for Flatten: ``nn.Flatten()`` (start_dim=1)."""
    return torch.nn.Flatten()


def linear_module(in_features: int, out_features: int) -> torch.nn.Module:
    """The reference for Linear: an ``nn.Linear`` with its own random initialisation."""
    return torch.nn.Linear(in_features, out_features)


def mlp_reference() -> torch.nn.Sequential:
    """The network of the last test: Flatten, Linear(784, 32), ReLU, Linear(32, 16), Sigmoid, Linear(16, 10)."""
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 32), torch.nn.ReLU(),
                               torch.nn.Linear(32, 16), torch.nn.Sigmoid(), torch.nn.Linear(16, 10))


def check_layer(make_layer: Callable[..., object], make_reference: Callable[..., torch.nn.Module], *, name: str,
                **options) -> None:
    """:func:`autograder.checks.objects.check_layer` with this chapter's in-place advice for ``name``."""
    objects.check_layer(make_layer, make_reference, name=name, inplace_hint=INPLACE_HINTS.get(name, INPLACE_HINT),
                        **options)


def check_mlp(Sequential, Flatten, Linear, Relu, Sigmoid, *, devices: Iterable[str] | None = None,
              dtypes: Iterable[torch.dtype] | None = None, steps: int = 2) -> None:
    """The student's layers in their Sequential match :func:`mlp_reference` (every output and
    gradient, ``steps`` batches of (N, 28, 28) images in a row); a failure names the first
    layer at fault (:func:`autograder.checks.network.check_network`)."""
    def linear(m):
        return Linear(m.in_features, m.out_features, device=m.weight.device.type, dtype=m.weight.dtype)

    makers = {torch.nn.Flatten: lambda m: Flatten(), torch.nn.Linear: linear, torch.nn.ReLU: lambda m: Relu(),
              torch.nn.Sigmoid: lambda m: Sigmoid()}
    check_network(Sequential, mlp_reference, makers, hints=HINTS, names={"ReLU": "Relu"}, devices=devices,
                  dtypes=dtypes, steps=steps, input_shape=(28, 28))


__all__ = ["ALLOWED", "EXERCISE", "HINTS", "INPLACE_HINTS", "check_layer", "check_linear_init", "check_mlp",
           "check_sequential", "elementwise_layer_cases", "flatten_cases", "flatten_module", "inplace_hint",
           "linear_cases", "linear_module", "mlp_reference", "plain_layer_cases"]
