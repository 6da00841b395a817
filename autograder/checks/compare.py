"""Comparing a student's tensor with the reference, with messages a student can act on."""
from __future__ import annotations

from typing import Iterable

import torch

from .calls import CheckFailure, type_name
from .cases import Case
from .hints import DEFAULT_HINTS, Hint, Mismatch

#: Per-dtype tolerances, as torch.testing.assert_close uses by default.
TOLERANCES = {
    torch.float16: (1e-3, 1e-5),
    torch.bfloat16: (1.6e-2, 1e-5),
    torch.float32: (1.3e-6, 1e-5),
    torch.float64: (1e-7, 1e-7),
}


def tolerance(dtype: torch.dtype, rtol: float | None = None, atol: float | None = None) -> tuple[float, float]:
    """``(rtol, atol)`` for ``dtype``; explicit values win. Integer dtypes compare exactly."""
    default = TOLERANCES.get(dtype, (0.0, 0.0))
    return (default[0] if rtol is None else rtol, default[1] if atol is None else atol)


def _fmt(value: torch.Tensor) -> str:
    item = value.item()
    return f"{item:.8g}" if isinstance(item, float) else repr(item)


def _index(flat: int, shape: torch.Size) -> tuple[int, ...]:
    index = []
    for size in reversed(shape):
        index.append(flat % size)
        flat //= size
    return tuple(reversed(index))


def _with_hints(message: str, mismatch: Mismatch | None, hints: Iterable[Hint]) -> str:
    if mismatch is None:
        return message
    for hint in list(hints) + list(DEFAULT_HINTS):
        advice = hint(mismatch)
        if advice:
            return f"{message}\nHint: {advice}"
    return message


def assert_tensor_matches(
    got: object,
    expected: torch.Tensor,
    *,
    name: str,
    case: Case,
    hints: Iterable[Hint] = (),
    rtol: float | None = None,
    atol: float | None = None,
    what: str = "result",
) -> None:
    """Raise :class:`CheckFailure` unless ``got`` is a plain ``torch.Tensor`` equal to ``expected``.

    Checks, in order: the type (exactly ``torch.Tensor``, no subclass or look-alike), the
    device, the dtype, the shape, then the values within the dtype's tolerance.
    """
    where = case.describe()
    if type(got) is not torch.Tensor:
        kind = type_name(got)
        advice = ""
        if kind.startswith("numpy"):
            advice = "\nHint: stay in torch: a numpy array cannot live on the GPU and has no autograd."
        elif isinstance(got, torch.Tensor) or kind.endswith("Tensor"):
            advice = "\nHint: return a plain torch.Tensor, not a subclass."
        elif got is None:
            advice = "\nHint: did you forget the `return` statement?"
        elif isinstance(got, (tuple, list)):
            advice = f"\nHint: return the {what} itself, not a {kind} holding it."
        raise CheckFailure(f"{name} returned a {kind} on {where}; expected a torch.Tensor as its {what}.{advice}")
    if got.device != expected.device:
        raise CheckFailure(
            f"{name} returned its {what} on device {got.device}; expected {expected.device} ({where}).\n"
            f"Hint: create new tensors on the input's device: torch.zeros_like(x), x.new_tensor(...), "
            f"or device=x.device."
        )
    if got.dtype != expected.dtype:
        advice = (
            "a comparison gives a bool tensor: convert it with `.to(x.dtype)`."
            if got.dtype == torch.bool
            else "constants made with torch.tensor(...) or torch.zeros(...) default to float32: "
            "use torch.zeros_like(x), x.new_tensor(...) or dtype=x.dtype."
        )
        raise CheckFailure(
            f"{name} returned its {what} with dtype {got.dtype} on {where}; expected {expected.dtype}.\nHint: {advice}"
        )
    mismatch = Mismatch(name, case, got.detach(), expected.detach())
    if got.shape != expected.shape:
        message = f"{name} returned its {what} with shape {tuple(got.shape)} on {where}; expected {tuple(expected.shape)}."
        raise CheckFailure(_with_hints(message, mismatch, hints))
    rtol, atol = tolerance(expected.dtype, rtol, atol)
    g, e = got.detach().double().cpu(), expected.detach().double().cpu()
    allowed = atol + rtol * e.abs()
    diff = (g - e).abs()
    same_nonfinite = (g == e) | (g.isnan() & e.isnan())
    bad = ~((diff <= allowed) | same_nonfinite)
    if not bool(bad.any()):
        return
    excess = torch.where(bad, torch.nan_to_num(diff - allowed, nan=float("inf"), posinf=float("inf")), torch.tensor(-1.0, dtype=torch.float64))
    flat = int(torch.argmax(excess.reshape(-1)))
    index = _index(flat, g.shape)
    at = f"index {index}" if index else "the (0-d) value"
    x = case.x
    input_there = ""
    if isinstance(x, torch.Tensor) and x.shape == g.shape:
        input_there = f" (input there: {_fmt(x.detach().reshape(-1)[flat])})"
    values_of = "wrong values" if what == "result" else f"wrong values for {what}"
    message = (
        f"{name} returned {values_of} on {where}:\n"
        f"  {int(bad.sum())} of {g.numel()} elements differ (rtol={rtol:g}, atol={atol:g});\n"
        f"  worst at {at}{input_there}: got {_fmt(g.reshape(-1)[flat])}, expected {_fmt(e.reshape(-1)[flat])}."
    )
    raise CheckFailure(_with_hints(message, mismatch, hints))
