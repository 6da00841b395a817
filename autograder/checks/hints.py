"""Hints for known mistakes.

A hint is a callable ``hint(mismatch) -> str | None``: it looks at what went wrong and
returns advice when it recognises the mistake. :func:`matches` builds the most useful
kind: "the student's result equals what this wrong formula gives".
"""
from __future__ import annotations

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


def nonfinite_from_overflow(m: Mismatch) -> str | None:
    """NaN or inf in the result where the expected value is finite."""
    bad = ~torch.isfinite(m.got) & torch.isfinite(m.expected)
    if not bool(bad.any()):
        return None
    kind = "NaN" if bool(torch.isnan(m.got[bad]).any()) else "inf"
    return (
        f"{kind} where the right answer is finite. In float32, exp(x) overflows to inf for "
        f"x above about 88.7 (float64: about 709.8), and inf/inf or inf-inf is NaN. Rewrite "
        f"the formula so exp only ever sees non-positive numbers (e.g. subtract the max, or "
        f"use a separate branch for negative inputs)."
    )


def matches(alternative: Callable[..., torch.Tensor], message: str) -> Hint:
    """A hint that fires when the result equals ``alternative(*case.args, **case.kwargs)``.

    ``alternative`` computes what a known wrong formula returns; ``message`` explains the
    mistake. The comparison uses float64 with a loose tolerance.
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
        if torch.allclose(got, wrong, rtol=1e-4, atol=1e-5, equal_nan=True):
            return message
        return None

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
