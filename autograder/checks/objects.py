"""Checking a student's object with state: a layer with ``forward`` and ``backward``.

A function check (:mod:`.api`) calls one function per case. A layer keeps state between
its two methods, so :func:`check_layer` drives an object: builds it, gives it the torch
module's parameters, runs forward then backward under the shared rules
(:func:`~.calls.watched_call`: allowed operators, no autograd in backward, inputs left
alone), compares the output, ``dx`` and every stored parameter gradient with autograd's,
and repeats after a second forward (a stale cache). The object may live here or on the
student's side (:mod:`.side`): every use is a call, an attribute read or write.
"""
from __future__ import annotations

import math
from typing import Callable, Iterable

import torch

from .calls import CheckFailure, raised, side_of, watched_call
from .cases import Case, randn
from .compare import assert_tensor_matches
from .devices import grid
from .api import report, seed_all
from .vjp import vjp

INPUT_CHANGED_HINT = (
    "the layer changed its input `x` in place. The caller (and other layers) still use it; "
    "compute a new tensor instead of writing into `x`."
)
STALE_HINT = (
    "backward after a second forward still used something the layer kept from the first "
    "call (its input, mask, output or shape). Every forward must overwrite what backward reads "
    "(`self.x = x`, `self.mask = ...`, `self.out = ...`), unconditionally."
)
VIEW_HINT = (
    "`x.view(...)` needs x's memory laid out contiguously, and a transposed or permuted "
    "input is not; `x.reshape(...)` works on any input (it copies only when it must)."
)
MISSING_GRAD_HINT = (
    "after backward, a layer with parameters stores their gradients as `self.grad_weight` "
    "(shaped like `weight`, (out, in)) and `self.grad_bias` (shaped like `bias`, (out,))."
)
#: What backward should do instead of writing into the upstream gradient, when the layer's
#: own advice is not given.
GRAD_OUT_HINT = ("backward changed the upstream gradient `grad_out` it was given. The caller may still need it: "
                 "when a value feeds two layers (a skip connection, a shared weight), the same `grad_out` goes to "
                 "both, and the second one then sees what you wrote into it. Compute a new tensor from `grad_out` "
                 "instead of writing into it.")


def copy_params(layer, module: torch.nn.Module) -> list[tuple[str, torch.nn.Parameter]]:
    """Give the student's ``layer`` the module's parameters (copies); return them by name."""
    params = list(module.named_parameters())
    for pname, p in params:
        setattr(layer, pname, p.detach().clone())
    return params


def _unchanged(before: torch.Tensor, after: torch.Tensor) -> bool:
    return before.shape == after.shape and bool(torch.equal(before.nan_to_num(0.0), after.detach().nan_to_num(0.0)))


def expected_step(module: torch.nn.Module, x: torch.Tensor, g_seed: int):
    """Reference output, a random upstream gradient, and autograd's dx and parameter grads."""
    xr = x.detach().clone().requires_grad_(True)
    y = module(xr)
    g = randn(y.shape, y.dtype, y.device, g_seed, scale=1.0)
    params = [p for _, p in module.named_parameters()]
    grads = vjp(y, [xr, *params], g, allow_unused=True)
    grads = [torch.zeros_like(t) if d is None else d for d, t in zip(grads, [xr, *params])]
    return y.detach(), g, grads[0], grads[1:]


def run_step(layer, name, x, g, allowed, where, inplace_hint: str = GRAD_OUT_HINT):
    """forward(x) then backward(g) under watch: x and g must come back unchanged, and x must
    still be unchanged (where the layer keeps it) after backward. ``inplace_hint``: the
    advice when backward writes into ``g``."""
    x_before = x.detach().clone()
    try:
        y = watched_call(layer.forward, (x,), name=f"{name}.forward", where=where, allowed=allowed, arg_names=("x",),
                         inplace_hint=lambda _: INPUT_CHANGED_HINT)
    except RuntimeError as err:
        if "view size is not compatible" in str(err):
            raise CheckFailure(f"{raised(name + '.forward', err)}\n  on {where}.\nHint: {VIEW_HINT}") from None
        raise
    dx = watched_call(layer.backward, (g,), name=f"{name}.backward", where=where, allowed=allowed,
                      allow_autograd=False, arg_names=("grad_out",), inplace_hint=lambda _: inplace_hint)
    kept = side_of(layer).fetch(x)
    if not _unchanged(x_before, kept):
        raise CheckFailure(f"{name}.backward modified the forward input x in place on {where}.\nHint: {INPUT_CHANGED_HINT}")
    return y, dx


def grad_attr(layer, name, pname, where):
    attr = f"grad_{pname}"
    if not hasattr(layer, attr):
        raise CheckFailure(f"{name}.backward stored no `self.{attr}` on {where}: the layer has no attribute `{attr}`."
                           f"\nHint: {MISSING_GRAD_HINT}")
    value = getattr(layer, attr)
    if value is None:
        raise CheckFailure(f"{name}.backward left `self.{attr}` None on {where}.\nHint: {MISSING_GRAD_HINT}")
    return value


def check_layer(
    make_layer: Callable[..., object],
    make_reference: Callable[..., torch.nn.Module],
    *,
    name: str,
    cases: Callable[[str, torch.dtype], Iterable[Case]],
    allowed: frozenset[str] | None = None,
    hints: dict | None = None,
    devices: Iterable[str] | None = None,
    dtypes: Iterable[torch.dtype] | None = None,
    rtol: float | None = None,
    atol: float | None = None,
    vary_batch: bool = False,
    inplace_hint: str = GRAD_OUT_HINT,
) -> None:
    """Check a layer class against a torch module, forward and backward, on every case.

    ``make_layer(**case.kwargs)`` builds the student's layer; ``make_reference(**case.kwargs)``
    the torch module (built on CPU in float64 semantics, then moved to the case's device and
    dtype); its parameters are copied into the layer (``layer.weight = ...``). For each case:
    the output matches the module's; ``backward(grad_out)`` with a random ``grad_out`` returns autograd's
    ``dx`` and stores ``grad_<param>`` equal to autograd's; ``x`` and ``grad_out`` are unchanged;
    autograd is refused inside backward; and a *fresh* layer that saw another input first
    (forward(x0), forward(x), backward(grad_out)) gives the same gradients (no stale cache);
    ``vary_batch``: x0 has one more row than x (layers that take a batch: Linear, Flatten).
    ``hints``: by what is compared (``"output"``, ``"dx"``, ``"grad_weight"``...);
    ``inplace_hint``: the layer's advice when its backward writes into ``grad_out``.
    """
    hints = hints or {}
    seed_all(0)
    count = 0
    for device, dtype in grid(devices, dtypes):
        for i, case in enumerate(cases(device, dtype)):
            where = case.describe()
            x = case.x
            module = make_reference(**case.kwargs).to(device=device, dtype=dtype)
            y_ref, g, dx_ref, pgrads_ref = expected_step(module, x, 1000 + i)
            layer = make_layer(**case.kwargs)
            params = copy_params(layer, module)
            hint_case = Case(case.label, (x, g, *[p.detach() for _, p in params]), case.kwargs)

            def compare(got, expected, what):
                said = {"output": "output", "dx": "gradient dx"}.get(what, f"self.{what}")
                assert_tensor_matches(got, expected, name=f"{name}.{'forward' if what == 'output' else 'backward'}",
                                      case=hint_case, hints=hints.get(what, ()), rtol=rtol, atol=atol, what=said)

            y, dx = run_step(layer, name, x, g, allowed, where, inplace_hint)
            compare(y, y_ref, "output")
            compare(dx, dx_ref, "dx")
            for (pname, _), expected in zip(params, pgrads_ref):
                compare(grad_attr(layer, name, pname, where), expected, f"grad_{pname}")

            # Second forward: a layer that saw x0 first must still give x's gradients.
            x0 = _other_input(x, vary_batch, 2000 + i)
            layer = make_layer(**case.kwargs)
            copy_params(layer, module)
            watched_call(layer.forward, (x0,), name=f"{name}.forward", where=where, allowed=allowed,
                         arg_names=("x",), inplace_hint=lambda _: INPUT_CHANGED_HINT)
            try:
                _, dx = run_step(layer, name, x, g, allowed, where, inplace_hint)
            except CheckFailure:
                raise
            except Exception as err:  # noqa: BLE001 - the student's error, explained
                raise CheckFailure(
                    f"{raised(name + '.backward', err)}\n  after a second forward: forward(x0), forward(x), "
                    f"backward(grad_out) on {where}.\nHint: {STALE_HINT}"
                ) from None
            got = [dx] + [grad_attr(layer, name, pname, where) for pname, _ in params]
            for what, a, b in zip(["dx"] + [f"grad_{p}" for p, _ in params], got, [dx_ref, *pgrads_ref]):
                try:
                    compare(a, b, what)
                except CheckFailure as err:
                    said = "gradient dx" if what == "dx" else f"self.{what}"
                    raise CheckFailure(
                        f"{name}.backward gave a wrong {said} after a second forward: forward(x0), forward(x), "
                        f"backward(grad_out) on {where}, although one forward then backward was right.\n"
                        f"Hint: {STALE_HINT}\n(details: {err})"
                    ) from None
            count += 1
    report(name, "forward and backward match autograd", count, devices, dtypes)


def _other_input(x: torch.Tensor, vary_batch: bool, seed: int) -> torch.Tensor:
    """A different input the layer accepts: one more row in the batch when ``vary_batch``."""
    shape = tuple(x.shape)
    if vary_batch:
        shape = (shape[0] + 1, *shape[1:])
    return randn(shape, x.dtype, x.device, seed)


def check_uniform(v: torch.Tensor, bound: float, where: str, fan_in: int, fan_out: int) -> None:
    """``v`` (float64, CPU) looks drawn from U(-bound, bound): inside it, reaching near it, with
    the uniform's standard deviation and a mean near 0; a message that names a known wrong
    bound (1/sqrt(out), sqrt(6/in), Xavier's) when it looks like one."""
    n = v.numel()
    std = v.std().item()
    expected_std = bound / math.sqrt(3)
    tol = 0.03 if n > 10_000 else 0.2  # many times the sampling error of the std
    guess = f"values reach {v.abs().max().item():.4g} with std {std:.4g}"
    bad = None
    if v.abs().max().item() > bound * (1 + 1e-6):
        bad = f"has values outside [-1/sqrt(in), 1/sqrt(in)] = [-{bound:.4g}, {bound:.4g}]: {guess}"
    elif std == 0 or abs(std / expected_std - 1) > tol:
        bad = f"is not spread like U(-{bound:.4g}, {bound:.4g}) (std {expected_std:.4g}): {guess}"
    elif abs(v.mean().item()) > 6 * expected_std / math.sqrt(n):
        bad = f"has mean {v.mean().item():.4g}, far from 0"
    if bad:
        known = {1 / math.sqrt(fan_out): "1/sqrt(out_features)", math.sqrt(6 / fan_in): "sqrt(6/in_features)",
                 math.sqrt(6 / (fan_in + fan_out)): "the Xavier/Glorot bound"}
        advice = ""
        for other, label in known.items():
            if abs(v.abs().max().item() / other - 1) < 0.02:
                advice = f" Your bound looks like {label}; nn.Linear uses 1/sqrt(in_features) for weight and bias."
        raise CheckFailure(f"{where} {bad}.\nHint: draw weight and bias from U(-1/sqrt(in_features), "
                           f"1/sqrt(in_features)), e.g. torch.empty(shape).uniform_(-bound, bound).{advice}")


def check_linear_init(Linear, *, devices: Iterable[str] | None = None, dtypes: Iterable[torch.dtype] | None = None) -> None:
    """``Linear(in, out, device=, dtype=)`` has torch's layout and initialisation.

    Shapes weight (out, in) and bias (out,); plain tensors on the requested device and
    dtype (default: CPU and torch's default dtype); values drawn from torch's global
    generator (``torch.manual_seed`` reproduces them) and spread like U(-1/sqrt(in),
    1/sqrt(in)) for both: inside the bound, reaching near it, with the uniform's
    standard deviation bound/sqrt(3), mean near 0.
    """
    seed_all(0)
    side = side_of(Linear)
    fan_in, fan_out = 400, 300
    for device, dtype in grid(devices, dtypes):
        layer = Linear(fan_in, fan_out, device=device, dtype=dtype)
        where = f"Linear({fan_in}, {fan_out}, device={device!r}, dtype={dtype})"
        for pname, shape in (("weight", (fan_out, fan_in)), ("bias", (fan_out,))):
            value = getattr(layer, pname, None)
            if not isinstance(value, torch.Tensor):
                raise CheckFailure(f"{where}.{pname} is {type(value).__name__}; expected a tensor of shape {shape}.")
            if tuple(value.shape) != shape:
                advice = (" torch's layout is weight (out_features, in_features), y = x @ weight.T + bias."
                          if pname == "weight" and tuple(value.shape) == shape[::-1] else "")
                raise CheckFailure(f"{where}.{pname} has shape {tuple(value.shape)}; expected {shape}.\nHint:{advice or ' check the shape.'}")
            if value.device.type != torch.device(device).type or value.dtype != dtype:
                raise CheckFailure(
                    f"{where}.{pname} is on {value.device} with dtype {value.dtype}; expected {device}, {dtype}.\n"
                    f"Hint: create it with torch.empty(..., device=device, dtype=dtype) and fill it."
                )
            check_uniform(value.detach().double().cpu(), 1 / math.sqrt(fan_in), f"{where}.{pname}", fan_in, fan_out)
    default = Linear(3, 2)
    default_weight, default_dtype = default.weight, side.default_dtype()
    if default_weight.dtype != default_dtype or default_weight.device.type != "cpu":
        raise CheckFailure(f"Linear(3, 2).weight is {default_weight.dtype} on {default_weight.device}; "
                           f"expected torch's default dtype {default_dtype} on cpu.")
    side.manual_seed(123)
    a = Linear(5, 4)
    side.manual_seed(123)
    b = Linear(5, 4)
    if not (torch.equal(a.weight, b.weight) and torch.equal(a.bias, b.bias)):
        raise CheckFailure("Linear(5, 4) gives different values after the same torch.manual_seed(123).\n"
                           "Hint: draw from torch's generator (tensor.uniform_(...), torch.rand(...)), not numpy or random.")
    print("OK: Linear has torch's layout and U(-1/sqrt(in), 1/sqrt(in)) initialisation")
