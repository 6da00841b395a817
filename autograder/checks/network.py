"""Checking a student's container and the network built from their layers.

:func:`check_sequential` drives a container with toy layers whose numbers give away the
order they ran in. :func:`check_network` runs the student's layers, chained by their
container, against the same ``nn.Sequential`` (weights copied) for several batches in a
row; when it fails, :func:`locate` runs the layers one at a time on torch's own
activations so the message names the first layer, method and output that differ.
"""
from __future__ import annotations

import itertools
from typing import Callable, Iterable

import torch

from .calls import CheckFailure, raised, side_of, watched_call
from .cases import Case, randn
from .compare import assert_tensor_matches
from .devices import devices as default_devices
from .devices import grid
from .api import seed_all
from .objects import STALE_HINT, copy_params, expected_step, grad_attr, run_step
from .vjp import vjp

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


#: ``(reference module) -> the student's layer of that kind``, for each kind of module.
LayerMaker = Callable[[torch.nn.Module], object]


def check_network(Sequential, make_reference: Callable[[], torch.nn.Sequential], makers: dict[type, LayerMaker], *,
                  hints: dict[str, dict] | None = None, names: dict[str, str] | None = None,
                  devices: Iterable[str] | None = None, dtypes: Iterable[torch.dtype] | None = None,
                  steps: int = 2, input_shape: tuple[int, ...] = (1, 28, 28)) -> None:
    """The student's layers (one per module of ``make_reference()``, made by
    ``makers[type(module)]``, weights copied) chained by their ``Sequential`` give the same
    output, dx and every parameter gradient as the reference, on ``steps`` batches in a row (as in training:
    forward, backward, next batch) of shape ``(N, *input_shape)``.

    When the network fails (a wrong number or an error), the layers are run again one at a
    time on torch's own activations, so the message names the first layer, and the method
    and output of it, that differs (:func:`locate`). ``hints``: by the student's class name,
    then by what is compared; ``names``: the student's class name of a torch module type
    name, where they differ (``{"ReLU": "Relu"}``)."""
    seed_all(0)
    labels = Labels(names or {})
    for device, dtype in grid(devices, dtypes):
        model_ref = make_reference().to(device=device, dtype=dtype)
        layers = []
        for m in model_ref:
            layer = makers[type(m)](m)
            copy_params(layer, m)
            layers.append(layer)
        model = Sequential(*layers)
        for step in range(steps):
            x = randn((4 + step, *input_shape), dtype, device, 300 + step, scale=1.0)
            case = Case(f"batch {step + 1} of images", (x,))
            try:
                _check_network_step(model, layers, model_ref, x, case, 400 + step, labels)
            except Exception as err:  # noqa: BLE001 - explained, layer by layer
                located = locate(layers, model_ref, x, case, 400 + step, labels, hints or {}, later_batch=step > 0)
                if located is not None:
                    raise located from None
                chain = labels.chain(model_ref)
                if isinstance(err, CheckFailure):
                    raise CheckFailure(f"the network {chain}: {err}\nEvery layer gives the right numbers "
                                       f"alone (run one at a time on torch's activations): look at how Sequential "
                                       f"chains them.") from None
                raise CheckFailure(f"{raised(f'the network {chain}', err)}\n  on {case.describe()}.\n"
                                   f"Every layer works alone (run one at a time on torch's activations): look at "
                                   f"how Sequential chains them.") from None
    print("OK: your layers in a Sequential match nn.Sequential's output and every gradient")


class Labels:
    """How messages name a layer of the reference: by the student's class name."""

    def __init__(self, names: dict[str, str]):
        self.names = names

    def of(self, module: torch.nn.Module) -> str:
        name = self.names.get(type(module).__name__, type(module).__name__)
        if isinstance(module, torch.nn.Linear):
            return f"{name}({module.in_features}, {module.out_features})"
        return name

    def kind(self, module: torch.nn.Module) -> str:
        return self.of(module).split("(")[0]

    def chain(self, reference: torch.nn.Sequential) -> str:
        return " -> ".join(self.of(m) for m in reference)


def _check_network_step(model, layers, reference, x, case, g_seed, labels: Labels) -> None:
    """One forward and backward of the student's Sequential, compared with autograd's."""
    where = case.describe()
    y_ref, g, dx_ref, grads_ref = expected_step(reference, x, g_seed)
    y, dx = run_step(model, "Sequential", x, g, None, where)
    assert_tensor_matches(y, y_ref, name="Sequential.forward", case=case, what="output")
    assert_tensor_matches(dx, dx_ref, name="Sequential.backward", case=case, what="gradient dx")
    for (pname, _), expected in zip(reference.named_parameters(), grads_ref):
        index, attr = pname.split(".")
        label = f"layer {index} ({labels.of(reference[int(index)])})"
        got = grad_attr(layers[int(index)], label, attr, where)
        assert_tensor_matches(got, expected, name=f"{label}.backward", case=case, what=f"self.grad_{attr}")


def _activations(reference: torch.nn.Sequential, x: torch.Tensor, g_seed: int):
    """torch's input to every layer, the upstream gradient at every layer's output (for the
    same random ``g`` as :func:`~.objects.expected_step`), and every parameter's gradient."""
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


def locate(layers, reference, x, case, g_seed, labels: Labels, hints: dict[str, dict],
           later_batch: bool = False) -> CheckFailure | None:
    """Run the student's layers one at a time on torch's activations: every forward in order,
    then every backward in reverse. The first layer whose output, gradient dx or parameter
    gradient differs, or that raises, is returned as a :class:`CheckFailure` naming it.
    ``later_batch``: an earlier batch went through right (so the stale-cache hint is added)."""
    inputs, upstream, dx_ref, grads_ref = _activations(reference, x, g_seed)
    intro = f"the network {labels.chain(reference)}, run one layer at a time on torch's activations: "
    stale = f"\n(The batch before this one was right. {STALE_HINT})" if later_batch else ""

    def named(i: int) -> str:
        return f"layer {i} ({labels.of(reference[i])})"

    def hints_of(i: int, what: str):
        return hints.get(labels.kind(reference[i]), {}).get(what, ())

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
                        compare(i, grad_attr(layers[i], named(i), pname, where), expected, "backward",
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
