"""The checks that test cells call.

Each check runs the student's function and the torch reference on every device
(:func:`~autograder.checks.devices.devices`), in float32 and float64, over a family of
cases, and raises :class:`CheckFailure` with an actionable message on the first
difference. On success it prints one line to stdout and nothing to stderr.

The student's function may be a local callable (JupyterLab) or a handle on a function in
the student's kernel (the referee): :func:`~autograder.checks.calls.watched_call` calls
either. ``allowed`` names the aten operators the function may run
(:mod:`autograder.checks.ops`); None allows any.
"""
from __future__ import annotations

import random
import warnings
from typing import Callable, Iterable

import numpy as np
import torch

from .calls import CheckFailure, display_name, raised, tensors_in, watched_call
from .cases import DTYPES, Case, elementwise_cases, randn
from .compare import assert_tensor_matches
from .devices import devices as default_devices
from .devices import grid
from .hints import Hint
from .vjp import vjp

CaseSource = Callable[[str, torch.dtype], Iterable[Case]]
BackwardArgs = Callable[[Case, torch.Tensor, torch.Tensor], tuple]


def seed_all(seed: int = 0) -> None:
    """Seed torch (every device), numpy and ``random`` so a check is reproducible."""
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


def _grid(devices: Iterable[str] | None, dtypes: Iterable[torch.dtype] | None, cases: CaseSource):
    for device, dtype in grid(devices, dtypes):
        yield from cases(device, dtype)


def _reference(fn: Callable, args: tuple, kwargs: dict):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def report(name: str, what: str, count: int, devices, dtypes) -> None:
    used_devices = ", ".join(default_devices() if devices is None else devices)
    used_dtypes = ", ".join(str(d).replace("torch.", "") for d in (DTYPES if dtypes is None else dtypes))
    print(f"OK: {name} {what} on {count} cases ({used_devices}; {used_dtypes})")


def check_forward(
    fn: Callable,
    reference: Callable,
    *,
    name: str | None = None,
    cases: CaseSource = elementwise_cases,
    allowed: frozenset[str] | None = None,
    hints: Iterable[Hint] = (),
    rtol: float | None = None,
    atol: float | None = None,
    devices: Iterable[str] | None = None,
    dtypes: Iterable[torch.dtype] | None = None,
    arg_names: tuple[str, ...] = ("x",),
    what: str = "result",
) -> None:
    """Check ``fn(*case.args, **case.kwargs)`` equals ``reference(...)`` on every case.

    ``allowed``: the aten operators ``fn`` may run (None: any). ``what`` names the output
    in messages (``"indices"`` for one output of a function that returns several). Returns
    None: a test cell's last value is read by nbgrader as partial credit, so checks return
    nothing.
    """
    name = name or display_name(fn)
    seed_all(0)
    count = 0
    for case in _grid(devices, dtypes, cases):
        expected = _reference(reference, case.args, case.kwargs)
        got = watched_call(fn, case.args, case.kwargs, name=name, where=case.describe(), allowed=allowed,
                           arg_names=arg_names)
        assert_tensor_matches(got, expected, name=name, case=case, hints=hints, rtol=rtol, atol=atol, what=what)
        count += 1
    report(name if what == "result" else f"{name} ({what})", "matches torch", count, devices, dtypes)


def _in_inputs_dtype(expected: torch.Tensor, args: tuple) -> torch.Tensor:
    """A float ``expected`` written out in a test cell, in the dtype of the first float tensor
    among ``args``: a literal follows torch's default dtype, which a student may have changed
    (``torch.set_default_dtype(torch.float64)``) while the inputs were made before."""
    if not (isinstance(expected, torch.Tensor) and expected.is_floating_point()):
        return expected
    for _, t in tensors_in(list(args)):
        if t.is_floating_point():
            return expected.to(t.dtype)
    return expected


def check_example(
    fn: Callable,
    args: tuple,
    expected: torch.Tensor,
    *,
    kwargs: dict | None = None,
    name: str | None = None,
    label: str = "example",
    what: str = "result",
    allowed: frozenset[str] | None = None,
    hints: Iterable[Hint] = (),
    rtol: float | None = None,
    atol: float | None = None,
    arg_names: tuple[str, ...] = ("x",),
    inplace_hint: Callable[[str], str] | None = None,
    hint_args: tuple | None = None,
) -> None:
    """Check one call written out in a test cell: ``fn(*args, **kwargs)`` equals ``expected``.

    The call runs under the same rules as every check (allowed operators, inputs left
    unchanged) and the result is compared as :func:`check_forward` compares it: a plain
    tensor with ``expected``'s device, dtype and shape, and its values (NaN equal to NaN).
    ``label`` names the example in the message (``"sigmoid([0, 5])"``); ``inplace_hint(arg
    name)`` replaces the general advice when an input comes back changed. ``hint_args``: the
    arguments the ``hints`` see, when they are not ``args``: a backward's hints see the
    forward input first, as :func:`check_backward` gives it (``(x, x, target, grad_out)``
    for a loss backward called as ``fn(x, target, grad_out)``).
    """
    name = name or display_name(fn)
    kwargs = dict(kwargs or {})
    expected = _in_inputs_dtype(expected, args)
    case = Case(label, tuple(args), kwargs)
    rules = {"inplace_hint": inplace_hint} if inplace_hint is not None else {}
    got = watched_call(fn, case.args, kwargs, name=name, where=case.describe(), allowed=allowed, arg_names=arg_names,
                       **rules)
    if hint_args is not None:
        case = Case(label, tuple(hint_args), kwargs)
    assert_tensor_matches(got, expected, name=name, case=case, hints=hints, rtol=rtol, atol=atol, what=what)
    print(f"OK: {name} gives the expected {what} on {label}")


def _autograd_vjp(reference: Callable, case: Case, upstream_seed: int, random_upstream: bool):
    """``(y, g, dx)``: the reference output, the upstream gradient, and dL/dx by autograd."""
    x = case.args[0].detach().clone().requires_grad_(True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        y = reference(x, *case.args[1:], **case.kwargs)
        if random_upstream:
            g = randn(y.shape, y.dtype, y.device, upstream_seed, scale=1.0)
        else:
            g = torch.ones_like(y)
        (dx,) = vjp(y, x, g, allow_unused=True)
    if dx is None:
        dx = torch.zeros_like(x)
    return y.detach(), g, dx


def check_derivative(
    fn: Callable,
    reference: Callable,
    *,
    name: str | None = None,
    expected_derivative: Callable | None = None,
    cases: CaseSource = elementwise_cases,
    allowed: frozenset[str] | None = None,
    hints: Iterable[Hint] = (),
    rtol: float | None = None,
    atol: float | None = None,
    devices: Iterable[str] | None = None,
    dtypes: Iterable[torch.dtype] | None = None,
) -> None:
    """Check an element-wise derivative ``fn(x) -> f'(x)`` against autograd on ``reference``.

    ``expected_derivative(x)`` replaces autograd where torch has no derivative (the step
    function). Autograd inside ``fn`` is refused.
    """
    name = name or display_name(fn, "derivative")
    seed_all(0)
    count = 0
    for case in _grid(devices, dtypes, cases):
        if expected_derivative is not None:
            expected = _reference(expected_derivative, case.args, case.kwargs)
        else:
            _, _, expected = _autograd_vjp(reference, case, 0, random_upstream=False)
        got = watched_call(fn, case.args, case.kwargs, name=name, where=case.describe(), allowed=allowed,
                           allow_autograd=False, arg_names=("x",))
        assert_tensor_matches(got, expected, name=name, case=case, hints=hints, rtol=rtol, atol=atol, what="derivative")
        count += 1
    report(name, "matches autograd", count, devices, dtypes)


def default_backward_args(case: Case, y: torch.Tensor, g: torch.Tensor) -> tuple[tuple, dict, tuple[str, ...]]:
    """Call the student's backward as ``fn(x, grad_out, **case.kwargs)``."""
    return (case.args[0], g), dict(case.kwargs), ("x", "grad_out")


def check_backward(
    fn: Callable,
    reference: Callable,
    *,
    name: str | None = None,
    backward_args: Callable = default_backward_args,
    cases: CaseSource = elementwise_cases,
    allowed: frozenset[str] | None = None,
    hints: Iterable[Hint] = (),
    rtol: float | None = None,
    atol: float | None = None,
    devices: Iterable[str] | None = None,
    dtypes: Iterable[torch.dtype] | None = None,
) -> None:
    """Check a hand-written backward against ``torch.autograd`` on ``reference``.

    For each case: ``y = reference(x, ...)``, a random upstream gradient ``g`` shaped like
    ``y`` (random, not ones, so a missing ``* grad_out`` shows), and the expected
    ``dL/dx``. ``backward_args(case, y, g)`` returns ``(args, kwargs, arg_names)`` for the
    student's ``fn``; by default ``fn(x, grad_out, **case.kwargs)``. Neither ``x``, ``y``
    nor ``g`` may be modified, and autograd is refused inside ``fn``.
    """
    name = name or display_name(fn, "backward")
    seed_all(0)
    count = 0
    for i, case in enumerate(_grid(devices, dtypes, cases)):
        y, g, expected = _autograd_vjp(reference, case, 1000 + i, random_upstream=True)
        args, kwargs, arg_names = backward_args(case, y, g)
        got = watched_call(fn, args, kwargs, name=name, where=case.describe(), allowed=allowed, allow_autograd=False,
                           arg_names=arg_names)
        mismatch_case = Case(case.label, (case.args[0], *args), case.kwargs)
        assert_tensor_matches(
            got, expected, name=name, case=mismatch_case, hints=hints, rtol=rtol, atol=atol, what="gradient"
        )
        count += 1
    report(name, "matches autograd", count, devices, dtypes)


def check_raises(
    fn: Callable,
    exc_type: type[BaseException],
    *,
    cases: CaseSource,
    reference: Callable | None = None,
    name: str | None = None,
    advice: str = "",
    devices: Iterable[str] | None = None,
    dtypes: Iterable[torch.dtype] | None = None,
) -> None:
    """Check ``fn(*case.args, **case.kwargs)`` raises ``exc_type`` on every case.

    ``reference``, when given, must raise ``exc_type`` on the same cases (so a test cannot
    demand an error torch itself does not raise). ``advice`` is added to failure messages.
    Forbidden-op and autograd rules do not apply here; inputs must still stay unmodified.
    """
    name = name or display_name(fn)
    wanted = exc_type.__name__
    tip = f"\nHint: {advice}" if advice else ""
    seed_all(0)
    count = 0
    for case in _grid(devices, dtypes, cases):
        where = case.describe()
        if reference is not None:
            try:
                _reference(reference, case.args, case.kwargs)
            except exc_type:
                pass
            else:
                raise RuntimeError(f"the reference does not raise {wanted} on {where}: this case tests nothing")
        try:
            watched_call(fn, case.args, case.kwargs, name=name, where=where)
        except exc_type:
            count += 1
            continue
        except CheckFailure:
            raise
        except Exception as err:
            raise CheckFailure(f"{raised(name, err)}\n  on {where}; torch raises {wanted} there.{tip}") from None
        raise CheckFailure(f"{name} returned a result on {where}; it should raise {wanted}, as torch does.{tip}")
    used_devices = ", ".join(default_devices() if devices is None else devices)
    print(f"OK: {name} raises {wanted} on {count} cases ({used_devices})")
