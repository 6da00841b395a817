"""Hints for known mistakes.

A hint is a callable ``hint(mismatch) -> str | None``: it looks at what went wrong and
returns advice when it recognises the mistake. :func:`matches` builds the most useful
kind: "the student's result equals what this wrong formula gives".
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional

import torch

from .cases import Case


@dataclass
class Mismatch:
    """What a hint sees: the function's name, the case, and got vs expected tensors."""

    name: str
    case: Case
    got: torch.Tensor
    expected: torch.Tensor


Hint = Callable[[Mismatch], Optional[str]]


def _large_inputs(case: Case) -> bool:
    """Whether a float input of ``case`` holds a value large enough for ``exp`` of it (or of
    a small multiple of it, as in ``exp(2 * x)``) to overflow in its dtype."""
    for arg in (*case.args, *case.kwargs.values()):
        if isinstance(arg, torch.Tensor) and arg.is_floating_point() and arg.numel():
            limit = math.log(torch.finfo(arg.dtype).max) / 4  # float32: about 22; float64: about 177
            if bool((arg.detach().abs() > limit).any()):
                return True
    return False


def nonfinite_from_overflow(m: Mismatch) -> str | None:
    """NaN or inf in the result where the expected value is finite, explained by what the
    case makes possible: ``exp`` overflow only when an input is large enough for it."""
    if m.got.shape != m.expected.shape:
        return None
    bad = ~torch.isfinite(m.got) & torch.isfinite(m.expected)
    if not bool(bad.any()):
        return None
    values = m.got[bad]
    kind = "NaN" if bool(torch.isnan(values).any()) else "-inf" if bool((values < 0).all()) else "inf"
    if kind == "-inf":
        return ("-inf where the right answer is finite: the log of a number that underflowed to 0 (as in "
                "log(softmax(x)) or log(sigmoid(x)) for very negative inputs), or minus the log of an exp that "
                "overflowed to inf (as in -log(1 + exp(-x))). Stay in log space: let exp see only numbers <= 0 "
                "(subtract the max, or use -|x|), and take the log of a sum that is at least 1.")
    if _large_inputs(m.case):
        return (f"{kind} where the right answer is finite. In float32, exp(x) overflows to inf for "
                f"x above about 88.7 (float64: about 709.8), and inf/inf or inf-inf is NaN. Rewrite "
                f"the formula so exp only ever sees non-positive numbers (e.g. subtract the max, or "
                f"use a separate branch for negative inputs).")
    return (f"{kind} where the right answer is finite, and no input here is large enough for exp to overflow: "
            f"look for a division by zero (0/0 is NaN: a sum, a count or a total weight that is 0 in this case, "
            f"or 0 * inf), or the log of 0 or of a negative number.")


#: How close a result must be to a wrong formula's for a hint to name that formula.
HINT_RTOL, HINT_ATOL = 1e-4, 1e-5


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return bool(torch.allclose(a, b, rtol=HINT_RTOL, atol=HINT_ATOL, equal_nan=True))


def matches(alternative: Callable[..., torch.Tensor], message: str) -> Hint:
    """A hint that fires when the result equals ``alternative(*case.args, **case.kwargs)``.

    ``alternative`` computes what a known wrong formula returns; ``message`` explains the
    mistake. The comparison uses float64 with a loose tolerance. A hint claims only what
    the mismatch shows: where the wrong formula gives the right answer on this case (a
    forgotten ``keepdim`` on a 1-d input), it says nothing.
    """

    def hint(m: Mismatch) -> str | None:
        try:
            with torch.no_grad():
                wrong = alternative(*m.case.args, **m.case.kwargs)
        except Exception:
            return None
        if not isinstance(wrong, torch.Tensor) or wrong.shape != m.got.shape:
            return None
        got, wrong = m.got.detach().double().cpu(), wrong.detach().double().cpu()
        if wrong.shape == m.expected.shape and _close(wrong, m.expected.detach().double().cpu()):
            return None
        return message if _close(got, wrong) else None

    return hint


DEFAULT_HINTS: tuple[Hint, ...] = (nonfinite_from_overflow,)


def wrong_dim(alternative: Callable[..., torch.Tensor], what: str, advice: str = "") -> Hint:
    """A hint that fires when the result equals ``alternative(*case.args, dim=d, **other kwargs)``
    for a dim ``d`` other than the case's ``dim``: a hard-coded or mixed-up ``dim``.

    ``what`` names the computation in the message (``"softmax"``, ``"sum"``); ``advice`` is
    appended to it.
    """

    def hint(m: Mismatch) -> str | None:
        x, dim = m.case.args[0], m.case.kwargs.get("dim")
        if dim is None or not isinstance(x, torch.Tensor) or x.dim() < 2:
            return None
        n, others = x.dim(), {k: v for k, v in m.case.kwargs.items() if k != "dim"}
        for d in range(n):
            if d == dim % n:
                continue
            message = (f"your {what} matches the one along dim={d} (also written dim={d - n}), but this case "
                       f"asks for dim={dim}: use the `dim` argument everywhere (max, sum), do not hard-code a dim."
                       + (f" {advice}" if advice else ""))
            found = matches(lambda *args, _d=d, **_: alternative(*args, dim=_d, **others), message)(m)
            if found:
                return found
        return None

    return hint
