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


def each_case(cases: CaseSource, devices, dtypes, name: str, what: str):
    """Every case of ``cases`` on every (device, dtype); once all have passed (the caller
    consumed the last one without raising), the ``OK:`` line that says how many."""
    count = 0
    for case in _grid(devices, dtypes, cases):
        yield case
        count += 1
    report(name, what, count, devices, dtypes)


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
    label = name if what == "result" else f"{name} ({what})"
    for case in each_case(cases, devices, dtypes, label, "matches torch"):
        expected = _reference(reference, case.args, case.kwargs)
        got = watched_call(fn, case.args, case.kwargs, name=name, where=case.describe(), allowed=allowed,
                           arg_names=arg_names)
        assert_tensor_matches(got, expected, name=name, case=case, hints=hints, rtol=rtol, atol=atol, what=what)


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
    for case in each_case(cases, devices, dtypes, name, "matches autograd"):
        if expected_derivative is not None:
            expected = _reference(expected_derivative, case.args, case.kwargs)
        else:
            _, _, expected = _autograd_vjp(reference, case, 0, random_upstream=False)
        got = watched_call(fn, case.args, case.kwargs, name=name, where=case.describe(), allowed=allowed,
                           allow_autograd=False, arg_names=("x",))
        assert_tensor_matches(got, expected, name=name, case=case, hints=hints, rtol=rtol, atol=atol, what="derivative")


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
    for i, case in enumerate(each_case(cases, devices, dtypes, name, "matches autograd")):
        y, g, expected = _autograd_vjp(reference, case, 1000 + i, random_upstream=True)
        args, kwargs, arg_names = backward_args(case, y, g)
        got = watched_call(fn, args, kwargs, name=name, where=case.describe(), allowed=allowed, allow_autograd=False,
                           arg_names=arg_names)
        mismatch_case = Case(case.label, (case.args[0], *args), case.kwargs)
        assert_tensor_matches(
            got, expected, name=name, case=mismatch_case, hints=hints, rtol=rtol, atol=atol, what="gradient"
        )


def _torch_raises(reference: Callable, case: Case, exc_type: type[BaseException] | None) -> tuple[type, str]:
    """``(the type, torch's first line)`` ``reference`` raises on ``case`` (it must raise
    ``exc_type`` when given): a test cannot demand an error torch itself does not raise."""
    try:
        _reference(reference, case.args, case.kwargs)
    except Exception as err:  # noqa: BLE001 - any type torch chooses is the expected one
        if exc_type is None or isinstance(err, exc_type):
            return type(err), (str(err).strip().splitlines() or [""])[0]
        raise RuntimeError(f"the reference raises {type(err).__name__}, not {exc_type.__name__}, on "
                           f"{case.describe()}: this case tests nothing") from None
    raise RuntimeError(f"the reference does not raise on {case.describe()}: this case tests nothing")


def check_raises(
    fn: Callable,
    exc_type: type[BaseException] | None = None,
    *,
    cases: CaseSource,
    reference: Callable | None = None,
    name: str | None = None,
    advice: str = "",
    silent_advice: str | None = None,
    extra_args: Callable[[Case], tuple] = lambda case: (),
    devices: Iterable[str] | None = None,
    dtypes: Iterable[torch.dtype] | None = None,
) -> None:
    """Check ``fn(*case.args, *extra_args(case), **case.kwargs)`` raises on every case.

    ``exc_type``: what it must raise; None: whatever ``reference`` raises there (the type
    torch chooses, quoted with torch's message). ``reference``, when given, must raise on the
    same cases. ``advice`` is added to failure messages (``silent_advice`` instead, when
    ``fn`` returns without an error). Forbidden-op and autograd rules do not apply here;
    inputs must still stay unmodified.
    """
    name = name or display_name(fn)
    if exc_type is None and reference is None:
        raise TypeError("check_raises needs exc_type or a reference to take it from")
    seed_all(0)
    count, kinds = 0, set()
    for case in _grid(devices, dtypes, cases):
        where = case.describe()
        wanted, said = exc_type, ""
        if reference is not None:
            wanted, first = _torch_raises(reference, case, exc_type)
            said = f' ("{first}")' if exc_type is None and first else ""
        kinds.add(wanted.__name__)
        try:
            watched_call(fn, (*case.args, *extra_args(case)), case.kwargs, name=name, where=where)
        except wanted:
            count += 1
            continue
        except CheckFailure:
            raise
        except Exception as err:
            tip = f"\nHint: {advice}" if advice else ""
            raise CheckFailure(f"{raised(name, err)}\n  on {where}; torch raises {wanted.__name__} there{said}.{tip}") from None
        tip = silent_advice if silent_advice is not None else advice
        tip = f"\nHint: {tip}" if tip else ""
        raise CheckFailure(f"{name} returned a result on {where}; it should raise {wanted.__name__}, as torch "
                           f"does{said}.{tip}")
    used_devices = ", ".join(default_devices() if devices is None else devices)
    print(f"OK: {name} raises {' or '.join(sorted(kinds))} on {count} cases ({used_devices})")
