"""Chapter 1 (activation concepts): references, allowed operators and known-mistake hints.

Step is defined as ``1 where x > 0 else 0`` (so step(0) = 0), with derivative 0
everywhere (torch's ``heaviside`` has no autograd formula, so the reference is zeros).
"""
from __future__ import annotations

import torch

from ..checks.hints import matches
from ..checks.ops import basic


def step_reference(x: torch.Tensor) -> torch.Tensor:
    """Heaviside step with value 0 at 0. x: float tensor -> same shape and dtype."""
    return torch.heaviside(x, torch.zeros_like(x))


def step_derivative_reference(x: torch.Tensor) -> torch.Tensor:
    """0 everywhere (the jump at 0 has no derivative; frameworks use 0)."""
    return torch.zeros_like(x)


#: The aten operators each function may run: the basic ones (``torch.heaviside``,
#: ``sigmoid``, ``tanh``, ``relu`` and every other library activation are not basic).
#: ``sign`` would hand the step function its jump, so step may not use it.
ALLOWED = {name: basic() for name in ("sigmoid", "sigmoid_derivative", "tanh", "tanh_derivative", "relu",
                                      "relu_derivative")}
ALLOWED["step"] = ALLOWED["step_derivative"] = basic(minus={"sign", "sgn"})


def _sigmoid64(x):
    return torch.sigmoid(x.double()).to(x.dtype)


HINTS = {
    "step": [
        matches(lambda x: (x >= 0).to(x.dtype), "step(0) is 0 here: use x > 0, not x >= 0."),
    ],
    "sigmoid": [],
    "tanh": [],
    "relu": [],
    "step_derivative": [],
    "sigmoid_derivative": [
        matches(lambda x: x * (1 - x), "you computed x * (1 - x): the formula is y * (1 - y) with y = sigmoid(x), the output, not the input."),
        matches(lambda x: _sigmoid64(x), "that is sigmoid(x) itself; the derivative is sigmoid(x) * (1 - sigmoid(x))."),
    ],
    "tanh_derivative": [
        matches(lambda x: 1 - x * x, "you computed 1 - x**2: the formula is 1 - y**2 with y = tanh(x), the output, not the input."),
    ],
    "relu_derivative": [
        matches(lambda x: (x >= 0).to(x.dtype), "ReLU's derivative at exactly 0 is 0 in torch (use x > 0, not x >= 0)."),
    ],
}


def plain_cases(device, dtype):
    """The shape families without the extreme values (what the visible tests use)."""
    from ..checks.cases import elementwise_cases

    return elementwise_cases(device, dtype, extremes=False)
