"""Running student code under watch.

:func:`watched_call` calls a student's function and enforces the rules every check
shares: forbidden aten ops are refused whatever Python name reached them (a
``TorchDispatchMode`` sees the op itself, so ``s = torch.sigmoid`` at import time does
not dodge it); autograd calls (``backward``, ``torch.autograd.grad``) can be refused
inside a hand-written backward; inputs must come back unmodified; and warnings are
recorded rather than printed, because nbgrader fails any test cell that writes to
stderr.
"""
from __future__ import annotations

import warnings
from typing import Any, Callable, Iterable

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode


class CheckFailure(AssertionError):
    """A check failed; the message says what, where and (if known) why."""


class _OpRecorder(TorchDispatchMode):
    """Records the aten overload packets (``aten.sigmoid``...) that run inside it."""

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        # By default torch wraps a mode's __torch_dispatch__ in dynamo's "disable", whose first
        # call imports torch._dynamo (1.5 s of CPU, in every fresh kernel). Nothing is
        # compiled inside a check, so the wrapper would only cost time.
        return False

    def __init__(self, forbidden: set[str]):
        super().__init__()
        self.forbidden = forbidden
        self.hits: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = str(func.overloadpacket)
        if name in self.forbidden and name not in self.hits:
            self.hits.append(name)
        return func(*args, **(kwargs or {}))


_AUTOGRAD_ENTRY_POINTS = {"backward", "grad", "vjp", "jacobian"}


class _AutogradRecorder(TorchFunctionMode):
    """Records calls of ``Tensor.backward`` / ``torch.autograd.grad`` made inside it."""

    def __init__(self):
        super().__init__()
        self.hits: list[str] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        if name in _AUTOGRAD_ENTRY_POINTS and name not in self.hits:
            self.hits.append(name)
        return func(*args, **(kwargs or {}))


def _snapshot(values: Iterable[Any]) -> list[tuple[int, torch.Tensor]]:
    return [(i, v.detach().clone()) for i, v in enumerate(values) if isinstance(v, torch.Tensor)]


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and a.dtype == b.dtype and bool(torch.equal(a.nan_to_num(0.0), b.nan_to_num(0.0))) and bool(
        torch.equal(a.isnan(), b.isnan())
    )


def watched_call(
    fn: Callable,
    args: tuple,
    kwargs: dict | None = None,
    *,
    name: str,
    where: str,
    forbidden: Iterable[str] = (),
    allow_autograd: bool = True,
    arg_names: tuple[str, ...] = (),
) -> tuple[Any, list[warnings.WarningMessage]]:
    """Call ``fn(*args, **kwargs)`` under the rules above; return ``(result, warnings)``.

    ``forbidden`` holds aten op names such as ``"aten.sigmoid"``; ``where`` describes the
    case for messages; ``arg_names`` names the positional arguments for messages.
    Raises :class:`CheckFailure` when a rule is broken. Exceptions raised by ``fn``
    itself propagate, with a note naming the case.
    """
    kwargs = kwargs or {}
    before = _snapshot(args)
    ops = _OpRecorder(set(forbidden))
    grads = _AutogradRecorder()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with grads, ops:
                result = fn(*args, **kwargs)
        except CheckFailure:
            raise
        except Exception as err:  # the student's own error: say where it happened
            err.add_note(f"(raised by {name} on {where})")
            raise
    if ops.hits:
        raise CheckFailure(
            f"{name} calls {', '.join(ops.hits)} on {where}.\n"
            f"Hint: this exercise is to compute it yourself from basic operations "
            f"(exp, log, arithmetic, comparisons, where, sum, max); calling the library's "
            f"own version does not count, under any name."
        )
    if not allow_autograd and grads.hits:
        raise CheckFailure(
            f"{name} uses autograd ({', '.join(grads.hits)}) on {where}.\n"
            f"Hint: a hand-written backward computes the gradient from the formula; "
            f"it must not call .backward() or torch.autograd.grad."
        )
    for index, saved in before:
        arg = args[index]
        if not _same(arg.detach(), saved):
            label = arg_names[index] if index < len(arg_names) else f"argument {index}"
            raise CheckFailure(
                f"{name} modified its input `{label}` in place on {where}.\n"
                f"Hint: the caller still needs that tensor (it may be shared with other layers); "
                f"build a new tensor instead (e.g. `torch.where(mask, 0, dout)` or `dout * mask`, "
                f"not `dout[mask] = 0`)."
            )
    return result, list(caught)
