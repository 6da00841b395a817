"""Chapter 3 (softmax): references, cases, allowed operators and known-mistake hints.

The assignment's functions and how the hidden tests call them:

- ``softmax(x, dim)``, ``log_softmax(x, dim)``: float tensor of any shape (1-d and up)
  -> same shape, dtype, device; normalised along ``dim`` (negative ``dim`` allowed).
- ``softmax_backward(s, grad_out, dim)``: ``s = softmax(x, dim)`` is the saved output;
  returns dL/dx = ``s * (grad_out - (grad_out * s).sum(dim, keepdim=True))``.
- ``log_softmax_backward(ls, grad_out, dim)``: ``ls = log_softmax(x, dim)`` is the saved
  output; returns dL/dx = ``grad_out - exp(ls) * grad_out.sum(dim, keepdim=True)``.

Hint alternatives receive the case's arguments: ``(x,)`` and ``dim=`` for forwards,
``(x, saved output, grad_out)`` and ``dim=`` for backwards.
"""
from __future__ import annotations

from typing import Iterator

import torch

from ..checks.cases import EXTREME_ROWS, Case, dim_cases, randn
from ..checks.hints import matches, wrong_dim
from ..checks.rules import Exercise, Rule
from ..checks.shortcuts import AUTOGRAD, LOG_SOFTMAX, SOFTMAX

#: The rules of each graded function: the basic operations only. The library's softmax
#: kernels and the logsumexp-type reductions (``x - logsumexp(x)`` is log_softmax, with the
#: max-subtraction this exercise teaches done for you) are shortcuts; backwards are
#: written from their formulas, not by autograd.
EXERCISE = Exercise("03-softmax", (
    Rule("softmax", ("test_softmax",), (SOFTMAX, LOG_SOFTMAX)),
    Rule("log_softmax", ("test_log_softmax",), (LOG_SOFTMAX, SOFTMAX)),
    Rule("softmax_backward", ("test_softmax_backward",), (SOFTMAX, LOG_SOFTMAX, AUTOGRAD)),
    Rule("log_softmax_backward", ("test_log_softmax_backward",), (SOFTMAX, LOG_SOFTMAX, AUTOGRAD)),
))
#: The aten operators each function may run (the recorder's allow-list).
ALLOWED = EXERCISE.allowed()


def square_first_cases(device: str, dtype: torch.dtype) -> Iterator[Case]:
    """A square 2-d input on both dims first (where a wrong ``dim`` or a missing
    ``keepdim`` gives wrong values instead of a shape error, so the hint can say so),
    then :func:`dim_cases` (every dim of 1-d to 4-d tensors, negative ones too)."""
    x = randn((4, 4), dtype, device, seed=100)
    for dim in (0, 1, -1, -2):
        yield Case("square 2-d", (x,), {"dim": dim})
    yield from dim_cases(device, dtype)


def extreme_cases(device: str, dtype: torch.dtype) -> Iterator[Case]:
    """``[1000, 0, -1000]`` as a vector, and the extreme rows (:data:`~autograder.checks.cases.EXTREME_ROWS`)
    along both dims."""
    vector = torch.tensor(EXTREME_ROWS[0], dtype=dtype, device=device)
    yield Case("extreme values", (vector,), {"dim": 0})
    yield Case("extreme values", (vector,), {"dim": -1})
    rows = torch.tensor(EXTREME_ROWS, dtype=dtype, device=device)
    for dim in (1, 0):
        yield Case("extreme values", (rows,), {"dim": dim})
    yield Case("large logits (scale 300)", (randn((4, 4), dtype, device, seed=7, scale=300.0),), {"dim": 1})


def all_cases(device: str, dtype: torch.dtype) -> Iterator[Case]:
    """What the hidden tests use: :func:`square_first_cases`, then :func:`extreme_cases`."""
    yield from square_first_cases(device, dtype)
    yield from extreme_cases(device, dtype)


def backward_args(case: Case, y: torch.Tensor, g: torch.Tensor):
    """How check_backward calls the backwards: ``fn(saved_output, grad_out, dim=dim)``."""
    return (y, g), {"dim": case.kwargs["dim"]}, ("saved output", "grad_out")


def _naive_softmax(x, dim):
    e = torch.exp(x)
    return e / e.sum(dim, keepdim=True)


def _softmax_no_keepdim(x, dim):
    e = torch.exp(x - x.amax(dim))
    return e / e.sum(dim)


def _softmax_no_keepdim_in_sum(x, dim):
    e = torch.exp(x - x.amax(dim, keepdim=True))
    return e / e.sum(dim)


def _log_softmax_no_keepdim(x, dim):
    shifted = x - x.amax(dim)
    return shifted - torch.log(torch.exp(shifted).sum(dim))


def _softmax_bw(s, g, dim):
    """s * (g - (g * s).sum(dim)): the backward's formula along ``dim``, for the hints that look
    for a *wrong* dim. Written with ``linalg.vecdot`` (not a basic operator), so that nobody
    gets a working softmax_backward from this module."""
    return s * (g - torch.linalg.vecdot(g, s, dim=dim).unsqueeze(dim))


def _log_softmax_bw(ls, g, dim):
    """g - exp(ls) * g.sum(dim), along ``dim``: as :func:`_softmax_bw`, for the wrong-dim hints."""
    return g - torch.exp(ls) * torch.linalg.vecdot(g, torch.ones_like(g), dim=dim).unsqueeze(dim)


KEEPDIM = ("a reduction lost its dimension: with x of shape (4, 4), x.sum(dim=1) has shape (4,), which "
           "broadcasts along the wrong axis. Use keepdim=True in max and sum.")
NO_MAX = ("exp of a large logit overflows (float32: above about 88.7) and inf / inf is NaN; subtract the "
          "max along dim first (softmax does not change when a constant is added along dim).")

HINTS = {
    "softmax": [
        matches(_naive_softmax, "you computed exp(x) / exp(x).sum(dim) without subtracting the max: " + NO_MAX),
        matches(_softmax_no_keepdim, KEEPDIM),
        matches(_softmax_no_keepdim_in_sum, KEEPDIM),
        wrong_dim(lambda x, dim: torch.softmax(x, dim), "softmax"),
    ],
    "log_softmax": [
        matches(lambda x, dim: x - torch.log(torch.exp(x).sum(dim, keepdim=True)),
                "you computed x - log(exp(x).sum(dim)) without subtracting the max: " + NO_MAX
                + " log_softmax(x) = (x - m) - log(sum(exp(x - m))) with m the max along dim."),
        matches(lambda x, dim: torch.log(torch.softmax(x, dim)),
                "you computed log(softmax(x)): a probability that underflows to 0 gives log(0) = -inf. "
                "Use log_softmax(x) = (x - m) - log(sum(exp(x - m))) with m the max along dim."),
        matches(_log_softmax_no_keepdim, KEEPDIM),
        wrong_dim(lambda x, dim: torch.log_softmax(x, dim), "log_softmax"),
    ],
    "softmax_backward": [
        matches(lambda x, s, g, dim: _softmax_bw(torch.softmax(s, dim), g, dim),
                "you applied softmax to the saved output again: the first argument is already "
                "s = softmax(x, dim); the gradient is s * (grad_out - (grad_out * s).sum(dim, keepdim=True))."),
        matches(lambda x, s, g, dim: s * (g - (g * s).sum(dim)),
                KEEPDIM.replace("in max and sum", "in the sum")),
        matches(lambda x, s, g, dim: s * (1 - s) * g,
                "you used only the diagonal of the Jacobian, s * (1 - s): every output of softmax depends on "
                "every input along dim. The gradient is s * (grad_out - (grad_out * s).sum(dim, keepdim=True))."),
        wrong_dim(lambda x, s, g, dim: _softmax_bw(s, g, dim), "sum"),
    ],
    "log_softmax_backward": [
        matches(lambda x, ls, g, dim: g - ls * g.sum(dim, keepdim=True),
                "the saved output holds log-probabilities: the probabilities are exp(ls). "
                "The gradient is grad_out - exp(ls) * grad_out.sum(dim, keepdim=True)."),
        matches(lambda x, ls, g, dim: g - torch.exp(ls) * g.sum(dim),
                KEEPDIM.replace("in max and sum", "in the sum")),
        wrong_dim(lambda x, ls, g, dim: _log_softmax_bw(ls, g, dim), "sum"),
    ],
}
