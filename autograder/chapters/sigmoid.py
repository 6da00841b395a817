"""Chapter 2 (sigmoid): references, allowed operators and known-mistake hints.

The assignment's functions and how the hidden tests call them:

- ``sigmoid(x)``: float tensor -> same shape, dtype, device.
- ``sigmoid_backward(y, grad_out)``: ``y = sigmoid(x)`` is the saved output, ``grad_out``
  the upstream gradient (same shape); returns dL/dx = ``grad_out * y * (1 - y)``.
- ``log_sigmoid(x)``: log(sigmoid(x)), finite for every finite x.
- ``log_sigmoid_backward(x, grad_out)``: dL/dx = ``grad_out * sigmoid(-x)``.

Hint alternatives receive the case's arguments: ``(x,)`` for forwards and
``(x, *backward args)`` for backwards: ``(x, y, grad_out)`` for ``sigmoid_backward``,
``(x, x, grad_out)`` for ``log_sigmoid_backward``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..checks.cases import Case, plain_elementwise_cases
from ..checks.hints import matches
from ..checks.rules import Exercise, Rule
from ..checks.shortcuts import AUTOGRAD, BCE, LOG_SIGMOID, LOG_SOFTMAX, SIGMOID, SOFTMAX, TANH

#: The rules of each graded function: the basic operations only. torch's sigmoid and every
#: back door to the same numbers are shortcuts: log-sigmoid and softplus, logsumexp and
#: logaddexp, a two-class softmax (its first column is the sigmoid of the difference),
#: tanh (sigmoid(x) = (1 + tanh(x/2)) / 2 hides the overflow question inside a library
#: call), the binary cross-entropy functions. Backwards are written from their formulas.
_BACK_DOORS = (SIGMOID, LOG_SIGMOID, LOG_SOFTMAX, SOFTMAX, TANH, BCE)
EXERCISE = Exercise("02-sigmoid", (
    Rule("sigmoid", ("test_sigmoid",), _BACK_DOORS),
    Rule("sigmoid_backward", ("test_sigmoid_backward",), (*_BACK_DOORS, AUTOGRAD)),
    Rule("log_sigmoid", ("test_log_sigmoid",), _BACK_DOORS),
    Rule("log_sigmoid_backward", ("test_log_sigmoid_backward",), (*_BACK_DOORS, AUTOGRAD)),
))
#: The aten operators each function may run (the recorder's allow-list).
ALLOWED = EXERCISE.allowed()

#: The shape families without the extreme values (what the visible tests use).
plain_cases = plain_elementwise_cases


def log_sigmoid_reference(x: torch.Tensor) -> torch.Tensor:
    """torch's log-sigmoid. x: float tensor -> same shape and dtype."""
    return F.logsigmoid(x)


def sigmoid_backward_args(case: Case, y: torch.Tensor, g: torch.Tensor):
    """How check_backward calls ``sigmoid_backward``: from the saved output ``y``."""
    return (y, g), {}, ("y", "grad_out")


def _stable_sigmoid(x):
    """A two-branch sigmoid for the hints that replay a student's log(sigmoid(x)): torch's own
    sigmoid on the positive half (not a basic operator, so this is no answer to copy)."""
    e = torch.exp(torch.clamp(x, max=0))
    return torch.where(x >= 0, torch.sigmoid(x), e / (1 + e))


LOG_OF_SIGMOID = (
    "you computed log(sigmoid(x)) (or -log(1 + exp(-x))): for very negative x, sigmoid(x) underflows "
    "to 0 (or exp(-x) overflows to inf) and the log gives -inf, while the answer is close to x. "
    "Use log sigmoid(x) = min(x, 0) - log1p(exp(-|x|)), where exp only sees -|x|."
)


def _unstable_sigmoid(x):
    e = torch.exp(x)
    return e / (1 + e)


HINTS = {
    "sigmoid": [
        matches(_unstable_sigmoid,
                "you computed exp(x) / (1 + exp(x)): for x above about 88.7 (float32; 709.8 in float64), "
                "exp(x) overflows to inf and inf / inf is NaN. 1 / (1 + exp(-x)) gives the right values "
                "(for very negative x it is 1 / inf = 0); the two-branch form, 1 / (1 + z) for x >= 0 and "
                "z / (1 + z) for x < 0 with z = exp(-|x|), never overflows at all."),
    ],
    "sigmoid_backward": [
        matches(lambda x, y, g: g * torch.sigmoid(y) * (1 - torch.sigmoid(y)),
                "you applied sigmoid to y again: the first argument is already the saved output "
                "y = sigmoid(x), so the gradient is grad_out * y * (1 - y)."),
        matches(lambda x, y, g: y * (1 - y),
                "you returned the local derivative y * (1 - y) only: by the chain rule, multiply "
                "it by the upstream gradient grad_out."),
        matches(lambda x, y, g: g * x * (1 - x),
                "that is grad_out * x * (1 - x) with the input x; the derivative is written with "
                "the output y = sigmoid(x)."),
    ],
    "log_sigmoid": [
        matches(alternative, LOG_OF_SIGMOID)
        for alternative in (
            lambda x: torch.log(_stable_sigmoid(x)),
            lambda x: torch.log(1 / (1 + torch.exp(-x))),
            lambda x: torch.log(torch.sigmoid(x)),
            lambda x: -torch.log1p(torch.exp(-x)),
            lambda x: -torch.log(1 + torch.exp(-x)),
        )
    ],
    "log_sigmoid_backward": [
        matches(lambda x, _x, g: g * torch.exp(-x) / (1 + torch.exp(-x)),
                "you computed grad_out * exp(-x) / (1 + exp(-x)): for very negative x that is "
                "inf / inf = NaN. The derivative of log sigmoid(x) is sigmoid(-x): use your "
                "stable sigmoid."),
        matches(lambda x, _x, g: g * torch.sigmoid(x),
                "the derivative of log sigmoid(x) is 1 - sigmoid(x) = sigmoid(-x), not sigmoid(x)."),
        matches(lambda x, _x, g: torch.sigmoid(-x),
                "you returned the local derivative sigmoid(-x) only: multiply it by grad_out."),
    ],
}
