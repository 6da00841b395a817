"""Chapter 6 (layer backprop): layer checks, references, allowed operators and known-mistake hints.

The checks library works on functions; a layer is an object with state, so this module
builds layer checks on the library's primitives (``watched_call``, ``assert_tensor_matches``,
``grid``, ``Case``, ``randn``). The student's classes may live here (JupyterLab) or in
their kernel (the referee): every use goes through calls, attribute reads and writes
that work on both, and objects the checks hand to student code (toy layers) are built
on the student's side (``side_of(cls).lib``).

The layer contract the assignment states (and these checks enforce):

- ``layer.forward(x)`` returns the output and caches what backward needs;
- ``layer.backward(grad_out)`` returns ``dx`` (shaped like the last forward's ``x``) and, for a
  layer with parameters, stores ``grad_weight`` / ``grad_bias`` shaped like ``weight`` /
  ``bias``; it never calls autograd and never modifies ``grad_out`` or ``x``;
- backward uses the *last* forward's input;
- ``Linear(in_features, out_features, device=None, dtype=None)`` keeps torch's layout:
  ``weight`` (out, in), ``bias`` (out,), ``y = x @ weight.T + bias``, both drawn from
  U(-1/sqrt(in), 1/sqrt(in)), and ``weight`` / ``bias`` may be reassigned (copied from an
  ``nn.Linear``).

Every check returns None (a test cell's last value is read by nbgrader as partial credit).
"""
from __future__ import annotations

import math
from typing import Callable, Iterable, Iterator

import torch

from ..checks import Case, CheckFailure, assert_tensor_matches, randn, seed_all, watched_call
from ..checks.calls import raised, side_of
from ..checks.devices import devices as default_devices
from ..checks.devices import grid
from ..checks.hints import matches
from ..checks.ops import LINEAR as LINEAR_OPS
from ..checks.rules import Exercise, Rule
from ..checks.shortcuts import AUTOGRAD, RELU, SIGMOID
from ..checks.vjp import vjp

#: The rules of each graded class (every method of it): the basic operations; a Linear
#: may also run ``addmm`` (``F.linear``). What would give a backward away, autograd, is a
#: shortcut for every layer.
EXERCISE = Exercise("06-layers", (
    Rule("Relu", ("test_relu", "test_mlp"), (RELU, AUTOGRAD)),
    Rule("Sigmoid", ("test_sigmoid", "test_mlp"), (SIGMOID, AUTOGRAD)),
    Rule("Linear", ("test_linear_init", "test_linear", "test_mlp"), (AUTOGRAD,), plus=LINEAR_OPS),
    Rule("Flatten", ("test_flatten", "test_mlp"), (AUTOGRAD,)),
    Rule("Sequential", ("test_sequential", "test_mlp"), (AUTOGRAD,), plus=LINEAR_OPS),
))
#: The aten operators each class's methods may run (the recorder's allow-list).
ALLOWED = EXERCISE.allowed()

# Messages for mistakes that are broken rules rather than wrong values.
_GRAD_OUT_SHARED = ("backward changed the upstream gradient `grad_out` it was given. The caller may still need it: "
                    "when a value feeds two layers (a skip connection, a shared weight), the same `grad_out` goes to "
                "both, and the second one then sees what you wrote into it. ")
#: What to do instead of writing into ``grad_out``, for each layer (the fix that is right for it).
INPLACE_HINTS = {
    "Relu": _GRAD_OUT_SHARED + ("Build a new tensor from the mask forward saved (self.mask = x > 0): "
                            "`torch.where(self.mask, grad_out, 0)` or `grad_out * self.mask`, not `grad_out[~self.mask] = 0`."),
    "Sigmoid": _GRAD_OUT_SHARED + ("Return a new tensor, `grad_out * self.out * (1 - self.out)`, not `grad_out *= ...` "
                               "or `grad_out.mul_(...)`."),
    "Linear": _GRAD_OUT_SHARED + ("Compute everything from `grad_out` without writing into it: `grad_out @ self.weight`, "
                              "`grad_out.T @ self.x` and `grad_out.sum(dim=0)` are new tensors already."),
    "Flatten": _GRAD_OUT_SHARED + "Return a new view or copy, `grad_out.reshape(self.shape)`, not `grad_out.resize_(...)`.",
}
INPLACE_HINT = _GRAD_OUT_SHARED + "Compute a new tensor from `grad_out` instead of writing into it."


def inplace_hint(layer: str) -> Callable[[str], str]:
    """The in-place advice for ``layer``'s backward, as ``check_example(inplace_hint=...)`` takes it."""
    return lambda _label: INPLACE_HINTS.get(layer, INPLACE_HINT)
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


def _relu_at_zero(x, g, *_, **__):
    """The mistake "gradient 1 at x = 0" (heaviside, not a basic operator: no working backward here)."""
    return g * torch.heaviside(x, torch.ones_like(x))


def _sigmoid_from_input(x, g, *_, **__):
    return g * x * (1 - x)


def _sigmoid64(x):
    return torch.sigmoid(x.double())


#: Hints keyed by layer, then by what is compared: "output", "dx", "grad_weight", "grad_bias",
#: "init". Mismatch hints see ``case.args == (x, grad_out, weight, bias)`` (weight and bias only
#: for Linear).
HINTS = {
    "Relu": {
        "output": [],
        "dx": [
            matches(_relu_at_zero, "ReLU's gradient at exactly 0 is 0 (as in torch): the mask is x > 0, not x >= 0."),
            matches(lambda x, g, *_a, **_k: (x > 0).to(x.dtype),
                    "you returned the local derivative (x > 0); backward returns grad_out times it."),
        ],
    },
    "Sigmoid": {
        "output": [],
        "dx": [
            matches(_sigmoid_from_input,
                    "you computed grad_out * x * (1 - x) from the input x: the formula is grad_out * y * (1 - y) "
                    "with y the output saved by forward."),
            matches(lambda x, g, *_a, **_k: (lambda y: y * (1 - y))(_sigmoid64(x)),
                    "you returned y * (1 - y), the local derivative; backward returns grad_out * y * (1 - y)."),
        ],
    },
    "Linear": {
        "output": [
            matches(lambda x, g, w, b, **_k: x @ w + b,
                    "you computed x @ weight + bias: torch's layout stores weight as (out_features, "
                    "in_features), so y = x @ weight.T + bias."),
            matches(lambda x, g, w, b, **_k: x @ w.T,
                    "the bias is missing: y = x @ weight.T + bias."),
        ],
        "dx": [
            matches(lambda x, g, w, b, **_k: g @ w.T,
                    "dx = grad_out @ weight (weight is (out, in), grad_out is (N, out), dx is (N, in)); you used weight.T."),
        ],
        "grad_weight": [
            matches(lambda x, g, w, b, **_k: x.T @ g,
                    "grad_weight is transposed: it has weight's shape (out, in), so grad_weight = grad_out.T @ x, "
                    "not x.T @ grad_out."),
            matches(lambda x, g, w, b, **_k: (g.T @ x) / x.shape[0],
                    "grad_weight is divided by the batch size: backward sums over the batch (the loss "
                    "already holds any mean)."),
        ],
        "grad_bias": [
            matches(lambda x, g, w, b, **_k: g.mean(0),
                    "grad_bias is the *sum* of grad_out over the batch (dim 0), not its mean."),
        ],
    },
    "Flatten": {"output": [], "dx": []},
}


# --------------------------------------------------------------------------- cases

def elementwise_layer_cases(device: str, dtype: torch.dtype, extremes: bool = True) -> Iterator[Case]:
    """Inputs for ReLU / Sigmoid: every shape family; extremes include exact zeros."""
    from ..checks.cases import elementwise_cases

    yield from elementwise_cases(device, dtype, extremes=extremes)
    # A batch of images, with a few exact zeros where ReLU's mask decides the gradient.
    x = randn((2, 1, 4, 4), dtype, device, 40)
    x.view(-1)[::5] = 0.0
    yield Case("4-d with exact zeros", (x,))


def plain_layer_cases(device: str, dtype: torch.dtype) -> Iterator[Case]:
    """:func:`elementwise_layer_cases` without the extreme values (what the visible tests use)."""
    return elementwise_layer_cases(device, dtype, extremes=False)


def linear_cases(device: str, dtype: torch.dtype) -> Iterator[Case]:
    """``Case(label, (x,), {"in_features": i, "out_features": o})``; square first (it hides a
    wrong layout behind the right shape, so the hint can name it)."""
    shapes = [("square (in == out == N)", 5, 5, 5), ("N=4, in=3, out=6", 4, 3, 6),
              ("batch of 1", 1, 7, 2), ("N=8, in=20, out=10", 8, 20, 10)]
    for i, (label, n, fan_in, fan_out) in enumerate(shapes):
        yield Case(label, (randn((n, fan_in), dtype, device, 60 + i, scale=1.0),),
                   {"in_features": fan_in, "out_features": fan_out})
    base = randn((6, 8), dtype, device, 70, scale=1.0)
    yield Case("non-contiguous x", (base.t()[::2],), {"in_features": 6, "out_features": 3})


def flatten_cases(device: str, dtype: torch.dtype) -> Iterator[Case]:
    """Inputs for Flatten (start_dim=1): images (N, 1, 28, 28), 3-d, 2-d, non-contiguous."""
    yield Case("images (N, 1, 28, 28)", (randn((3, 1, 28, 28), dtype, device, 80),))
    yield Case("3-d", (randn((2, 3, 4), dtype, device, 81),))
    yield Case("2-d (already flat)", (randn((4, 5), dtype, device, 82),))
    yield Case("non-contiguous 4-d (permuted)", (randn((2, 4, 3, 5), dtype, device, 83).permute(0, 2, 3, 1),))


# --------------------------------------------------------------------------- layer check

def _copy_params(layer, module: torch.nn.Module) -> list[tuple[str, torch.nn.Parameter]]:
    """Give the student's ``layer`` the module's parameters (copies); return them by name."""
    params = list(module.named_parameters())
    for pname, p in params:
        setattr(layer, pname, p.detach().clone())
    return params


def _unchanged(before: torch.Tensor, after: torch.Tensor) -> bool:
    return before.shape == after.shape and bool(torch.equal(before.nan_to_num(0.0), after.detach().nan_to_num(0.0)))


def _expected(module: torch.nn.Module, x: torch.Tensor, g_seed: int):
    """Reference output, a random upstream gradient, and autograd's dx and parameter grads."""
    xr = x.detach().clone().requires_grad_(True)
    y = module(xr)
    g = randn(y.shape, y.dtype, y.device, g_seed, scale=1.0)
    params = [p for _, p in module.named_parameters()]
    grads = vjp(y, [xr, *params], g, allow_unused=True)
    grads = [torch.zeros_like(t) if d is None else d for d, t in zip(grads, [xr, *params])]
    return y.detach(), g, grads[0], grads[1:]


def _run_step(layer, name, x, g, allowed, where):
    """forward(x) then backward(g) under watch: x and g must come back unchanged, and x must
    still be unchanged (where the layer keeps it) after backward."""
    inplace_hint = INPLACE_HINTS.get(name, INPLACE_HINT)
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


def _grad_attr(layer, name, pname, where):
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
    """
    hints = hints or {}
    seed_all(0)
    count = 0
    for device, dtype in grid(devices, dtypes):
        for i, case in enumerate(cases(device, dtype)):
            where = case.describe()
            x = case.x
            module = make_reference(**case.kwargs).to(device=device, dtype=dtype)
            y_ref, g, dx_ref, pgrads_ref = _expected(module, x, 1000 + i)
            layer = make_layer(**case.kwargs)
            params = _copy_params(layer, module)
            hint_case = Case(case.label, (x, g, *[p.detach() for _, p in params]), case.kwargs)

            def compare(got, expected, what):
                said = {"output": "output", "dx": "gradient dx"}.get(what, f"self.{what}")
                assert_tensor_matches(got, expected, name=f"{name}.{'forward' if what == 'output' else 'backward'}",
                                      case=hint_case, hints=hints.get(what, ()), rtol=rtol, atol=atol, what=said)

            y, dx = _run_step(layer, name, x, g, allowed, where)
            compare(y, y_ref, "output")
            compare(dx, dx_ref, "dx")
            for (pname, _), expected in zip(params, pgrads_ref):
                compare(_grad_attr(layer, name, pname, where), expected, f"grad_{pname}")

            # Second forward: a layer that saw x0 first must still give x's gradients.
            x0 = _other_input(x, vary_batch, 2000 + i)
            layer = make_layer(**case.kwargs)
            _copy_params(layer, module)
            watched_call(layer.forward, (x0,), name=f"{name}.forward", where=where, allowed=allowed,
                         arg_names=("x",), inplace_hint=lambda _: INPUT_CHANGED_HINT)
            try:
                _, dx = _run_step(layer, name, x, g, allowed, where)
            except CheckFailure:
                raise
            except Exception as err:  # noqa: BLE001 - the student's error, explained
                raise CheckFailure(
                    f"{raised(name + '.backward', err)}\n  after a second forward: forward(x0), forward(x), "
                    f"backward(grad_out) on {where}.\nHint: {STALE_HINT}"
                ) from None
            got = [dx] + [_grad_attr(layer, name, pname, where) for pname, _ in params]
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
    used = ", ".join(default_devices() if devices is None else devices)
    used_dtypes = ", ".join(sorted({str(d).replace("torch.", "") for _, d in grid(devices, dtypes)}))
    print(f"OK: {name} forward and backward match autograd on {count} cases ({used}; {used_dtypes})")


def _other_input(x: torch.Tensor, vary_batch: bool, seed: int) -> torch.Tensor:
    """A different input the layer accepts: one more row in the batch when ``vary_batch``."""
    shape = tuple(x.shape)
    if vary_batch:
        shape = (shape[0] + 1, *shape[1:])
    return randn(shape, x.dtype, x.device, seed)


def flatten_module() -> torch.nn.Module:
    """The reference for Flatten: ``nn.Flatten()`` (start_dim=1)."""
    return torch.nn.Flatten()


def linear_module(in_features: int, out_features: int) -> torch.nn.Module:
    """The reference for Linear: an ``nn.Linear`` with its own random initialisation."""
    return torch.nn.Linear(in_features, out_features)


# --------------------------------------------------------------------------- Linear init

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
            _check_uniform(value.detach().double().cpu(), 1 / math.sqrt(fan_in), f"{where}.{pname}", fan_in, fan_out)
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
    print(f"OK: Linear has torch's layout and U(-1/sqrt(in), 1/sqrt(in)) initialisation")


def _check_uniform(v: torch.Tensor, bound: float, where: str, fan_in: int, fan_out: int) -> None:
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


# --------------------------------------------------------------------------- Sequential

#: The toy layers of :func:`check_sequential`: forward x -> a x + b, backward d -> a d + b.
TOY_LAYERS = ((2.0, 1.0), (-3.0, 0.5), (0.5, -2.0))


def check_sequential(Sequential, *, devices: Iterable[str] | None = None) -> None:
    """``Sequential(*layers)`` runs forward in order, backward in reverse, returns dx.

    Uses toy layers (built where the student's code runs) whose forward is x -> a x + b and
    whose backward is d -> a d + b: distinct offsets make any other order, a missing call
    or a repeated one give other numbers.
    """
    side = side_of(Sequential)
    for device in default_devices() if devices is None else devices:
        layers = [side.lib("probes.ToyAffine", a, b) for a, b in TOY_LAYERS]
        model = Sequential(*layers)
        x = torch.tensor([[0.0, 1.0], [2.0, -1.0]], device=device, dtype=torch.float64)
        g = torch.tensor([[1.0, -2.0], [0.5, 3.0]], device=device, dtype=torch.float64)
        where = f"{device}, three toy layers (forward x -> a*x + b, backward d -> a*d + b)"
        case = Case("three toy layers", (x,))
        y = watched_call(model.forward, (x,), name="Sequential.forward", where=where, arg_names=("x",))
        expected = x
        for a, b in TOY_LAYERS:
            expected = a * expected + b
        _order_hint(y, x, expected, "forward", "forward of layer 0, then 1, then 2")
        assert_tensor_matches(y, expected, name="Sequential.forward", case=case)
        dx = watched_call(model.backward, (g,), name="Sequential.backward", where=where, allow_autograd=False,
                          arg_names=("grad_out",))
        expected = g
        for a, b in reversed(TOY_LAYERS):
            expected = a * expected + b
        _order_hint(dx, g, expected, "backward", "backward of layer 2, then 1, then 0: the chain rule runs from the "
                                                 "output back to the input, each layer's dx being the previous one's grad_out")
        assert_tensor_matches(dx, expected, name="Sequential.backward", case=Case("three toy layers", (g,)),
                              what="gradient dx")
    print("OK: Sequential runs forward in order and backward in reverse")


def _order_hint(got, start, expected, method, right) -> None:
    """Raise a hint naming the order the layers ran in, when ``got`` matches another order."""
    import itertools

    if not isinstance(got, torch.Tensor) or got.shape != start.shape:
        return
    for order in itertools.permutations(range(len(TOY_LAYERS))):
        value = start
        for i in order:
            a, b = TOY_LAYERS[i]
            value = a * value + b
        if torch.allclose(got, value) and not torch.allclose(value, expected):
            raise CheckFailure(f"Sequential.{method} ran the layers' {method} in the order {list(order)} "
                               f"(toy layers); expected {right}.")


def mlp_reference() -> torch.nn.Sequential:
    """The network of the last test: Flatten, Linear(784, 32), ReLU, Linear(32, 16), Sigmoid, Linear(16, 10)."""
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 32), torch.nn.ReLU(),
                               torch.nn.Linear(32, 16), torch.nn.Sigmoid(), torch.nn.Linear(16, 10))


def check_mlp(Sequential, Flatten, Linear, Relu, Sigmoid, *, devices: Iterable[str] | None = None,
              dtypes: Iterable[torch.dtype] | None = None, steps: int = 2) -> None:
    """The student's layers in a Sequential give the same output, dx and every parameter
    gradient as the same ``nn.Sequential`` (weights copied), on (N, 1, 28, 28) images, on
    each of ``steps`` batches in a row (as in training: forward, backward, next batch).

    When the network fails (a wrong number or an error), the layers are run again one at a
    time on torch's own activations, so the message names the first layer, and the method
    and output of it, that differs (:func:`_locate`)."""
    seed_all(0)
    for device, dtype in grid(devices, dtypes):
        reference = mlp_reference().to(device=device, dtype=dtype)
        kinds = {torch.nn.Flatten: lambda m: Flatten(),
                 torch.nn.Linear: lambda m: Linear(m.in_features, m.out_features, device=device, dtype=dtype),
                 torch.nn.ReLU: lambda m: Relu(), torch.nn.Sigmoid: lambda m: Sigmoid()}
        layers = []
        for m in reference:
            layer = kinds[type(m)](m)
            _copy_params(layer, m)
            layers.append(layer)
        model = Sequential(*layers)
        for step in range(steps):
            x = randn((4 + step, 1, 28, 28), dtype, device, 300 + step, scale=1.0)
            case = Case(f"batch {step + 1} of images", (x,))
            try:
                _check_network_step(model, layers, reference, x, case, 400 + step)
            except Exception as err:  # noqa: BLE001 - explained, layer by layer
                located = _locate(layers, reference, x, case, 400 + step, later_batch=step > 0)
                if located is not None:
                    raise located from None
                if isinstance(err, CheckFailure):
                    raise CheckFailure(f"the network {_chain(reference)}: {err}\nEvery layer gives the right numbers "
                                       f"alone (run one at a time on torch's activations): look at how Sequential "
                                       f"chains them.") from None
                raise CheckFailure(f"{raised(f'the network {_chain(reference)}', err)}\n  on {case.describe()}.\n"
                                   f"Every layer works alone (run one at a time on torch's activations): look at "
                                   f"how Sequential chains them.") from None
    print("OK: your layers in a Sequential match nn.Sequential's output and every gradient")


def _chain(reference: torch.nn.Sequential) -> str:
    return " -> ".join(_layer_label(m) for m in reference)


def _layer_label(module: torch.nn.Module) -> str:
    name = {"ReLU": "Relu"}.get(type(module).__name__, type(module).__name__)
    if isinstance(module, torch.nn.Linear):
        return f"{name}({module.in_features}, {module.out_features})"
    return name


def _check_network_step(model, layers, reference, x, case, g_seed) -> None:
    """One forward and backward of the student's Sequential, compared with autograd's."""
    where = case.describe()
    y_ref, g, dx_ref, grads_ref = _expected(reference, x, g_seed)
    y, dx = _run_step(model, "Sequential", x, g, None, where)
    assert_tensor_matches(y, y_ref, name="Sequential.forward", case=case, what="output")
    assert_tensor_matches(dx, dx_ref, name="Sequential.backward", case=case, what="gradient dx")
    for (pname, _), expected in zip(reference.named_parameters(), grads_ref):
        index, attr = pname.split(".")
        label = f"layer {index} ({_layer_label(reference[int(index)])})"
        got = _grad_attr(layers[int(index)], label, attr, where)
        assert_tensor_matches(got, expected, name=f"{label}.backward", case=case, what=f"self.grad_{attr}")


def _activations(reference: torch.nn.Sequential, x: torch.Tensor, g_seed: int):
    """torch's input to every layer, the upstream gradient at every layer's output (for the
    same random ``g`` as :func:`_expected`), and every parameter's gradient."""
    inputs, outputs = [x.detach().clone().requires_grad_(True)], []
    for module in reference:
        out = module(inputs[-1])
        outputs.append(out)
        inputs.append(out.detach().clone().requires_grad_(True))
    g = randn(outputs[-1].shape, outputs[-1].dtype, outputs[-1].device, g_seed, scale=1.0)
    upstream = [None] * len(outputs)
    upstream[-1] = g
    dx = [None] * len(outputs)
    grads = {}
    for i in reversed(range(len(outputs))):
        params = list(reference[i].named_parameters())
        got = vjp(outputs[i], [inputs[i], *[p for _, p in params]], upstream[i])
        dx[i] = got[0]
        grads.update({(i, name): d for (name, _), d in zip(params, got[1:])})
        if i > 0:
            upstream[i - 1] = dx[i]
    return [t.detach() for t in inputs], upstream, dx, grads


def _locate(layers, reference, x, case, g_seed, later_batch: bool = False) -> CheckFailure | None:
    """Run the student's layers one at a time on torch's activations: every forward in order,
    then every backward in reverse. The first layer whose output, gradient dx or parameter
    gradient differs, or that raises, is returned as a :class:`CheckFailure` naming it.
    ``later_batch``: an earlier batch went through right (so the stale-cache hint is added)."""
    inputs, upstream, dx_ref, grads_ref = _activations(reference, x, g_seed)
    intro = f"the network {_chain(reference)}, run one layer at a time on torch's activations: "
    stale = f"\n(The batch before this one was right. {STALE_HINT})" if later_batch else ""

    def named(i: int) -> str:
        return f"layer {i} ({_layer_label(reference[i])})"

    def hints_of(i: int, what: str):
        return HINTS.get(_layer_label(reference[i]).split("(")[0], {}).get(what, ())

    def compare(i, got, expected, method, what, hint_key):
        params = [p.detach() for _, p in reference[i].named_parameters()]
        hint_case = Case(f"{case.label}, torch's input to {named(i)}", (inputs[i], upstream[i], *params))
        assert_tensor_matches(got, expected, name=f"{named(i)}.{method}", case=hint_case,
                              hints=hints_of(i, hint_key), what=what)

    def attempt(i, method):
        arg = inputs[i] if method == "forward" else upstream[i]
        where = Case(f"{case.label}, torch's {'input to' if method == 'forward' else 'upstream gradient at'} "
                     f"{named(i)}", (arg,)).describe()
        try:
            got = watched_call(getattr(layers[i], method), (arg,), name=f"{named(i)}.{method}", where=where,
                               allow_autograd=method == "forward", arg_names=("x" if method == "forward" else "grad_out",))
            if method == "forward":
                compare(i, got, inputs[i + 1], "forward", "output", "output")
            else:
                compare(i, got, dx_ref[i], "backward", "gradient dx", "dx")
                for (j, pname), expected in grads_ref.items():
                    if j == i:
                        compare(i, _grad_attr(layers[i], named(i), pname, where), expected, "backward",
                                f"self.grad_{pname}", f"grad_{pname}")
        except CheckFailure as failure:
            return CheckFailure(intro + str(failure) + stale)
        except Exception as err:  # noqa: BLE001 - the student's error, located
            return CheckFailure(
                f"{intro}{raised(f'{named(i)}.{method}', err)}\n  on {where}.\n"
                f"Hint: the test of this layer's own section tries it alone; make that one pass first.{stale}")
        return None

    for i in range(len(layers)):
        failure = attempt(i, "forward")
        if failure is not None:
            return failure
    for i in reversed(range(len(layers))):
        failure = attempt(i, "backward")
        if failure is not None:
            return failure
    return None
