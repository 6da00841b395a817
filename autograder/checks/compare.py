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


#: How many units in the last place of the largest input a value depends on are allowed on
#: top of ``(rtol, atol)``: the rounding of the inputs themselves. At float32 inputs of
#: 1000 one unit is 6.1e-5, and ``x - logsumexp(x)``, a correct log-softmax, is off by
#: about that much from torch's ``log_softmax`` (which subtracts the max first).
INPUT_ULPS = 8


def tolerance(dtype: torch.dtype, rtol: float | None = None, atol: float | None = None) -> tuple[float, float]:
    """``(rtol, atol)`` for ``dtype``; explicit values win. Integer dtypes compare exactly."""
    default = TOLERANCES.get(dtype, (0.0, 0.0))
    return (default[0] if rtol is None else rtol, default[1] if atol is None else atol)


def input_scale(case: Case, expected: torch.Tensor) -> torch.Tensor:
    """The magnitude of the largest input each expected value depends on, float64 on the
    CPU, broadcastable to ``expected``: element by element for an element-wise result,
    along ``dim`` for a result computed along it, else the largest of all float inputs."""
    tensors = [a for a in (*case.args, *case.kwargs.values())
               if isinstance(a, torch.Tensor) and a.is_floating_point() and a.numel()]
    if not tensors:
        return torch.zeros((), dtype=torch.float64)
    x = case.args[0] if case.args and isinstance(case.args[0], torch.Tensor) else None
    if x is not None and x.is_floating_point() and x.shape == expected.shape and x.numel():
        magnitude = x.detach().double().cpu().abs().nan_to_num(0.0, posinf=0.0, neginf=0.0)
        dim = case.kwargs.get("dim")
        if isinstance(dim, int) and x.dim() > 0:
            return magnitude.amax(dim=dim, keepdim=True)
        return magnitude
    return torch.stack([t.detach().double().cpu().abs().nan_to_num(0.0, posinf=0.0, neginf=0.0).amax()
                        for t in tensors]).amax()


def allowed_error(case: Case, expected: torch.Tensor, rtol: float, atol: float) -> torch.Tensor:
    """Per element of ``expected``: ``atol + rtol * |expected|`` plus :data:`INPUT_ULPS` units
    in the last place of :func:`input_scale` in ``expected``'s dtype (float64, on the CPU)."""
    e = expected.detach().double().cpu()
    ulp = torch.finfo(expected.dtype).eps if expected.is_floating_point() else 0.0
    return atol + rtol * e.abs() + INPUT_ULPS * ulp * input_scale(case, expected)


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
        try:
            advice = hint(mismatch)
        except Exception:  # noqa: BLE001 - a hint that cannot read this mismatch has nothing to say
            advice = None
        if advice:
            return f"{message}\nHint: {advice}"
    return message


def _gave(name: str, what: str) -> str:
    """``"sigmoid returned its result"``, or for what a method stores on its object,
    ``"Linear.backward stored self.grad_bias"``: the function and the output at fault."""
    if what.startswith("self."):
        return f"{name} stored {what}"
    return f"{name} returned its {what}"


def _dtype_advice(got: torch.dtype, expected: torch.dtype, what: str) -> str:
    """How to get ``expected`` instead of ``got``: true for the output at hand."""
    if not expected.is_floating_point and expected != torch.bool:
        if got == torch.bool:
            return f"a comparison gives a bool tensor; {what} must be {expected}: convert it with `.long()`."
        return (f"{what} are positions, so they are integers ({expected}, as torch returns them), whatever x's dtype: "
                f"build them from torch.arange(n, device=x.device) (int64 already) or convert with `.long()`; "
                f"do not give them dtype=x.dtype.")
    if got == torch.bool:
        return "a comparison gives a bool tensor: convert it with `.to(x.dtype)`."
    if not got.is_floating_point:
        return f"integer arithmetic gave an integer tensor: convert it with `.to(x.dtype)` ({expected} here)."
    if got == torch.float32 and expected == torch.float64:
        return ("a float64 input needs a float64 result, and torch makes new tensors float32 by default "
                "(torch.tensor(...), torch.zeros(...), torch.where(cond, 1.0, 0.0)): build them from the input, "
                "with torch.zeros_like(x), x.new_tensor(...) or dtype=x.dtype.")
    return (f"something in your computation is {got} (a numpy value, torch.tensor(..., dtype={got}), a .double() "
            f"or .float() call) and the result followed it: keep the input's dtype ({expected}), e.g. with "
            f"torch.zeros_like(x), x.new_tensor(...) or dtype=x.dtype.")


def _type_advice(got: object, kind: str, what: str) -> str:
    if kind.startswith("numpy"):
        return "\nHint: stay in torch: a numpy array cannot live on the GPU and has no autograd."
    if isinstance(got, torch.Tensor) or kind.endswith("Tensor"):
        return "\nHint: return a plain torch.Tensor, not a subclass."
    if got is None:
        return ("\nHint: did you forget to assign it (`self.grad_... = ...`)?" if what.startswith("self.")
                else "\nHint: did you forget the `return` statement?")
    if isinstance(got, (tuple, list)):
        return f"\nHint: give the {what} itself, not a {kind} holding it."
    return ""


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
    device, the dtype, the shape, then the values within the dtype's tolerance. ``name`` is
    the function or method, ``what`` the output compared (``"result"``, ``"gradient"``,
    ``"logits"``, ``"grads['W1']"``; ``"self.grad_bias"`` for what a method stores): every
    message names both, and the case.
    """
    where = case.describe()
    gave = _gave(name, what)
    if type(got) is not torch.Tensor:
        kind = type_name(got)
        raise CheckFailure(f"{gave} as a {kind} on {where}; expected a torch.Tensor.{_type_advice(got, kind, what)}")
    if got.device != expected.device:
        raise CheckFailure(
            f"{gave} on device {got.device} on {where}; expected {expected.device}, the input's device.\n"
            f"Hint: create new tensors on the input's device: torch.zeros_like(x), x.new_tensor(...), "
            f"or device=x.device."
        )
    if got.dtype != expected.dtype:
        raise CheckFailure(f"{gave} with dtype {got.dtype} on {where}; expected {expected.dtype}.\n"
                           f"Hint: {_dtype_advice(got.dtype, expected.dtype, what)}")
    mismatch = Mismatch(name, case, got.detach(), expected.detach())
    if got.shape != expected.shape:
        message = f"{gave} with shape {tuple(got.shape)} on {where}; expected {tuple(expected.shape)}."
        raise CheckFailure(_with_hints(message, mismatch, hints))
    rtol, atol = tolerance(expected.dtype, rtol, atol)
    g, e = got.detach().double().cpu(), expected.detach().double().cpu()
    allowed = allowed_error(case, expected, rtol, atol).expand_as(e)
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
    values = f"{name} returned wrong values" if what == "result" else f"{name}: wrong {what}"
    message = (
        f"{values} on {where}:\n"
        f"  {int(bad.sum())} of {g.numel()} elements differ by more than allowed (rtol={rtol:g}, atol={atol:g}, "
        f"plus the inputs' rounding);\n"
        f"  worst at {at}{input_there}: got {_fmt(g.reshape(-1)[flat])}, expected {_fmt(e.reshape(-1)[flat])} "
        f"(allowed difference there: {float(allowed.reshape(-1)[flat]):.2g})."
    )
    raise CheckFailure(_with_hints(message, mismatch, hints))
