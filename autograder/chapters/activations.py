"""Chapter 1 (activation concepts): references, allowed operators and known-mistake hints.

Step is defined as ``1 where x > 0 else 0`` (so step(0) = 0), with derivative 0
everywhere (torch's ``heaviside`` has no autograd formula, so the reference is zeros).
"""
from __future__ import annotations

import torch

from ..checks.cases import plain_elementwise_cases
from ..checks.hints import matches
from ..checks.rules import Exercise, Rule
from ..checks.shortcuts import AUTOGRAD, RELU, SIGMOID, STEP, TANH


def step_reference(x: torch.Tensor) -> torch.Tensor:
    """Heaviside step with value 0 at 0. x: float tensor -> same shape and dtype."""
    return torch.heaviside(x, torch.zeros_like(x))


def step_derivative_reference(x: torch.Tensor) -> torch.Tensor:
    """0 everywhere (the jump at 0 has no derivative; frameworks use 0)."""
    return torch.zeros_like(x)


#: The rules of each graded function (the notebook's rules cell is written from it). A
#: rule covers what the function reaches through the student's own helpers too (tanh
#: through their sigmoid). A derivative is written from its formula: autograd does not count.
EXERCISE = Exercise("01-activations", (
    Rule("step", ("test_step",), (STEP,)),
    Rule("step_derivative", ("test_step_derivative",), (STEP, AUTOGRAD)),
    Rule("sigmoid", ("test_sigmoid",), (SIGMOID,)),
    Rule("sigmoid_derivative", ("test_sigmoid_derivative",), (SIGMOID, AUTOGRAD)),
    Rule("tanh", ("test_tanh",), (TANH, SIGMOID)),
    Rule("tanh_derivative", ("test_tanh_derivative",), (TANH, SIGMOID, AUTOGRAD)),
    Rule("relu", ("test_relu",), (RELU,)),
    Rule("relu_derivative", ("test_relu_derivative",), (RELU, STEP, AUTOGRAD)),
))
#: The aten operators each function may run (the recorder's allow-list).
ALLOWED = EXERCISE.allowed()


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


#: The shape families without the extreme values (what the visible tests use).
plain_cases = plain_elementwise_cases
