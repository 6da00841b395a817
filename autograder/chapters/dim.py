"""Chapter 4 (what ``dim`` means): references, cases, allowed operators and known-mistake hints.

The exercise has three functions, each checked on every ``dim`` (negative ones too) of
1-d to 4-d inputs:

- ``normalize(x, dim)``: ``x / x.sum(dim, keepdim=True)`` (inputs are positive);
- ``max_along(x, dim, keepdim=False)``: ``(values, indices)`` like ``torch.max(x, dim, keepdim)``,
  checked as two outputs through :func:`values_of` and :func:`indices_of`;
- ``softmax_channels(x)``: softmax over the channel dim of an ``(N, C, H, W)`` batch.

Case generators put the square and ``N == C`` inputs first: there a classic mistake
(wrong ``dim``, missing ``keepdim``) still returns a result of the right shape, so the
failure comes with a hint instead of a broadcasting error.
"""
from __future__ import annotations

from typing import Callable, Iterator

import torch
import torch.nn.functional as F

from ..checks.calls import Part, display_name, pair
from ..checks.cases import Case, dim_cases, randn
from ..checks.hints import matches, wrong_dim
from ..checks.rules import Exercise, Rule
from ..checks.shortcuts import LOG_SOFTMAX, MAX, NORMALIZE, SOFTMAX

# --- references ------------------------------------------------------------------------


def normalize_reference(x: torch.Tensor, dim: int) -> torch.Tensor:
    """x: positive float tensor, any shape -> same shape; every slice along ``dim`` sums to 1
    (torch's L1 normalisation, which for positive values divides by the sum)."""
    return F.normalize(x, p=1.0, dim=dim, eps=0.0)


def max_values_reference(x: torch.Tensor, dim: int, keepdim: bool = False) -> torch.Tensor:
    """The ``values`` of ``torch.max(x, dim, keepdim)``."""
    return torch.max(x, dim, keepdim=keepdim).values


def max_indices_reference(x: torch.Tensor, dim: int, keepdim: bool = False) -> torch.Tensor:
    """The ``indices`` (int64) of ``torch.max(x, dim, keepdim)``."""
    return torch.max(x, dim, keepdim=keepdim).indices


def softmax_channels_reference(x: torch.Tensor) -> torch.Tensor:
    """x: (N, C, H, W) float tensor -> (N, C, H, W); softmax over C."""
    return torch.softmax(x, dim=1)


def _pair(name: str, result: object) -> tuple:
    return pair(name, result, "(values, indices)", like="torch.max(x, dim)")


def values_of(fn: Callable) -> Part:
    """``fn(x, dim, keepdim) -> (values, indices)`` seen as a function returning ``values``."""
    name = display_name(fn)
    return Part(fn, lambda result: _pair(name, result)[0], f"{name} (values)")


def indices_of(fn: Callable) -> Part:
    """``fn(x, dim, keepdim) -> (values, indices)`` seen as a function returning ``indices``."""
    name = display_name(fn)
    return Part(fn, lambda result: _pair(name, result)[1], f"{name} (indices)")


# --- cases -----------------------------------------------------------------------------


def _square_first(cases: list[Case]) -> list[Case]:
    return sorted(cases, key=lambda c: c.label != "square 2-d")  # stable: keeps the rest in order


def normalize_cases(device: str, dtype: torch.dtype) -> list[Case]:
    """``(x, dim=d)`` for every dim of 1-d to 4-d inputs (square 2-d first), values in [0.5, ~10]."""
    positive = {}
    cases = []
    for case in dim_cases(device, dtype):
        x = case.x
        if id(x) not in positive:  # the same tensor serves every dim: shift it once, keep its strides
            positive[id(x)] = x.abs_().add_(0.5)
        cases.append(case)
    return _square_first(cases)


def max_cases(device: str, dtype: torch.dtype) -> list[Case]:
    """``(x, dim=d, keepdim=k)`` for every dim of 1-d to 4-d inputs and both ``keepdim`` (square first).

    Values are continuous random numbers, so there are no ties."""
    cases = []
    for case in dim_cases(device, dtype):
        for keepdim in (False, True):
            cases.append(Case(case.label, case.args, {**case.kwargs, "keepdim": keepdim}))
    return _square_first(cases)


def softmax_channels_cases(device: str, dtype: torch.dtype) -> Iterator[Case]:
    """(N, C, H, W) batches: N == C first, then other shapes, channels-last strides, large logits."""
    yield Case("4-d, N == C", (randn((3, 3, 4, 5), dtype, device, 40),))
    yield Case("4-d", (randn((2, 4, 3, 5), dtype, device, 41),))
    yield Case("4-d, one image", (randn((1, 5, 2, 3), dtype, device, 42),))
    yield Case("4-d, 1x1 images", (randn((2, 3, 1, 1), dtype, device, 43),))
    x = randn((2, 4, 3, 3), dtype, device, 44).contiguous(memory_format=torch.channels_last)
    yield Case("4-d, channels-last (non-contiguous)", (x,))
    yield Case("4-d, large logits (about +-1000)", (randn((2, 3, 2, 2), dtype, device, 45, scale=1000.0),))


def invalid_dim_cases(device: str, dtype: torch.dtype, keepdim: bool | None = None) -> Iterator[Case]:
    """``(x, dim=d)`` with ``d`` just out of range on each side (``ndim`` and ``-ndim - 1``), 1-d to 4-d.

    ``keepdim``: also pass ``keepdim=`` (for ``max_along``)."""
    for i, shape in enumerate([(5,), (3, 4), (2, 3, 4), (2, 3, 4, 5)]):
        x = randn(shape, dtype, device, 60 + i).abs_().add_(0.5)
        for dim in (len(shape), -len(shape) - 1):
            kwargs = {"dim": dim} if keepdim is None else {"dim": dim, "keepdim": keepdim}
            yield Case(f"{len(shape)}-d, invalid dim", (x,), kwargs)


def invalid_dim_max_cases(device: str, dtype: torch.dtype) -> Iterator[Case]:
    """:func:`invalid_dim_cases` with ``keepdim=False`` and ``keepdim=True``."""
    yield from invalid_dim_cases(device, dtype, keepdim=False)
    yield from invalid_dim_cases(device, dtype, keepdim=True)


# --- forbidden shortcuts ---------------------------------------------------------------

#: The rules of each graded function: the basic operations, less what would do the work
#: (the norms for normalize; max, argmax and the sorts for max_along: min and argmin on -x
#: are the same thing; softmax for softmax_channels). ``amax``, ``amin``, ``where``,
#: ``arange``, comparisons and arithmetic stay allowed.
EXERCISE = Exercise("04-dim", (
    Rule("normalize", ("test_normalize",), (NORMALIZE,)),
    Rule("max_along", ("test_max_along",), (MAX,)),
    Rule("softmax_channels", ("test_softmax_channels",), (SOFTMAX, LOG_SOFTMAX)),
))
#: The aten operators each function may run (the recorder's allow-list).
ALLOWED = EXERCISE.allowed()

# --- hints for the classic mistakes ----------------------------------------------------


def _softmax_over(x: torch.Tensor, dims) -> torch.Tensor:
    """torch's softmax over one dim, or over all of them (a wrong dim for softmax_channels)."""
    if isinstance(dims, int):
        return torch.softmax(x, dims)
    return torch.softmax(x.reshape(-1), 0).reshape(x.shape)


def _softmax_no_keepdim(x: torch.Tensor) -> torch.Tensor:
    e = torch.exp(x - x.amax(dim=1, keepdim=True))
    return e / e.sum(dim=1)


MISSING_KEEPDIM = (
    "the result matches dividing by `x.sum(dim)` without keepdim=True. The reduced tensor lost its `dim` axis, "
    "so broadcasting lined it up with the wrong axes of x; use x.sum(dim, keepdim=True)."
)

HINTS = {
    "normalize": [
        wrong_dim(lambda x, dim: F.normalize(x, p=1.0, dim=dim, eps=0.0), "normalisation",
                  "Pass `dim` through: x.sum(dim, keepdim=True)."),
        matches(lambda x, dim: x / x.sum(),
                "you divided by the sum of ALL elements (x.sum() without dim): the whole tensor sums to 1, "
                "not each slice along `dim`. Use x.sum(dim, keepdim=True)."),
        matches(lambda x, dim: x / x.sum(dim), MISSING_KEEPDIM),
    ],
    "max_values": [
        wrong_dim(lambda x, dim, keepdim=False: x.amax(dim, keepdim=keepdim), "max"),
        matches(lambda x, dim, keepdim=False: x.amax(),
                "you took the max over ALL elements: reduce along `dim` only."),
        matches(lambda x, dim, keepdim=False: x.amax(dim, keepdim=not keepdim),
                "the reduced axis is there when it should not be, or missing when it should be: with "
                "keepdim=True the result keeps `dim` with size 1; with keepdim=False that axis is removed."),
    ],
    "max_indices": [
        wrong_dim(lambda x, dim, keepdim=False: x.argmax(dim, keepdim=keepdim), "argmax"),
        matches(lambda x, dim, keepdim=False: x.argmax(),
                "you returned the position in the flattened tensor (argmax over ALL elements): "
                "indices count positions along `dim`, from 0 to x.shape[dim] - 1."),
        matches(lambda x, dim, keepdim=False: x.argmax(dim, keepdim=not keepdim),
                "the reduced axis is there when it should not be, or missing when it should be: with "
                "keepdim=True the indices keep `dim` with size 1; with keepdim=False that axis is removed."),
    ],
    "softmax_channels": [
        matches(lambda x: _softmax_over(x, -1),
                "that is the softmax over the LAST dim (W, the image width); channels are dim 1 of (N, C, H, W)."),
        matches(lambda x: _softmax_over(x, 0),
                "that is the softmax over dim 0, the batch: it mixes different images. Channels are dim 1."),
        matches(lambda x: _softmax_over(x, (0, 1, 2, 3)),
                "you normalised over ALL elements (a sum without dim): the whole batch sums to 1, "
                "not the C channel scores of each pixel. Sum over dim=1."),
        matches(_softmax_no_keepdim,
                "the result matches dividing by `e.sum(1)` without keepdim=True: the (N, H, W) sums were lined "
                "up with the last three axes (C, H, W) of e, mixing images. Use e.sum(1, keepdim=True)."),
    ],
}

INVALID_DIM_ADVICE = (
    "for a dim outside [-x.dim(), x.dim() - 1] torch raises IndexError ('Dimension out of range'). "
    "Pass `dim` straight to torch (x.sum(dim, ...), x.shape[dim]) and let it raise; "
    "do not wrap it with `dim % x.dim()` or ignore it."
)
