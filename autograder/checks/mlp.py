"""Checking a network written from scratch: a multilayer perceptron whose parameters are a
dict of tensors and whose backward is written by hand.

The network: ``Linear -> ReLU -> ... -> Linear`` with parameters ``W1 b1 W2 b2 ...`` shaped
like ``nn.Linear``'s (W: (out, in), b: (out,)), on flattened inputs. The reference is
torch's own (``F.linear``, ``torch.relu``) with autograd for the gradients; a gradient that
matches a backward without one of the ReLU masks gets a hint naming that layer.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn
from torch.nn import functional as F

from . import context
from .calls import CheckFailure, pair, type_name, watched_call
from .cases import Case, generator
from .compare import assert_tensor_matches
from .devices import grid
from .hints import matches
from .vjp import vjp


def forward_with(weights: list[tuple[torch.Tensor, torch.Tensor]], x: torch.Tensor) -> torch.Tensor:
    """The MLP (Flatten, Linear, ReLU, ..., Linear) with the given ``(weight, bias)`` pairs."""
    h = x.flatten(1)
    for i, (w, b) in enumerate(weights):
        h = F.linear(h, w, b)
        if i < len(weights) - 1:
            h = torch.relu(h)
    return h


def param_names(layers: int) -> tuple[str, ...]:
    """``("W1", "b1", ..., f"W{layers}", f"b{layers}")``."""
    return tuple(f"{k}{i}" for i in range(1, layers + 1) for k in ("W", "b"))


def random_params(make_network: Callable[[], nn.Module], device, dtype, seed: int = 0) -> dict[str, torch.Tensor]:
    """``make_network()``'s default initialisation (seeded from the run's secret) as a
    ``W1 b1 W2 b2 ...`` dict."""
    torch.manual_seed(context.seed(seed))
    return params_from_model(make_network(), device=device, dtype=dtype)


def params_from_model(model: nn.Module, device=None, dtype=None) -> dict[str, torch.Tensor]:
    """``{"W1": first Linear's weight, "b1": its bias, ...}``, detached copies."""
    out = {}
    for i, layer in enumerate((m for m in model.modules() if isinstance(m, nn.Linear)), start=1):
        out[f"W{i}"] = layer.weight.detach().to(device=device, dtype=dtype).clone()
        out[f"b{i}"] = layer.bias.detach().to(device=device, dtype=dtype).clone()
    return out


def reference_mlp(params: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """The MLP with torch's ops: x (N, ...) -> logits (N, out of the last layer)."""
    layers = len(params) // 2
    return forward_with([(params[f"W{i}"], params[f"b{i}"]) for i in range(1, layers + 1)], x)


def _inputs(device, dtype, seed, shape):
    return torch.rand((6, *shape), generator=generator(seed), dtype=torch.float64).to(device=device, dtype=dtype)


def _relu_passthrough(h: torch.Tensor) -> torch.Tensor:
    """ReLU's value with the identity's gradient: a backward that forgot the ReLU mask."""
    return h + (torch.relu(h) - h).detach()


def _grads_without_mask(params, x, g, hidden: int) -> dict[str, torch.Tensor]:
    """The gradients a backward gives when it forgets the ReLU mask after hidden layer ``hidden``."""
    names = param_names(len(params) // 2)
    with torch.enable_grad():  # hints run under no_grad
        leaves = {k: v.clone().requires_grad_(True) for k, v in params.items()}
        h = x.flatten(1)
        last = len(params) // 2
        for i in range(1, last):
            a = F.linear(h, leaves[f"W{i}"], leaves[f"b{i}"])
            h = _relu_passthrough(a) if i == hidden else torch.relu(a)
        logits = F.linear(h, leaves[f"W{last}"], leaves[f"b{last}"])
        return dict(zip(names, vjp(logits, [leaves[k] for k in names], g)))


def _mask_hints(params, x, g, key: str) -> list:
    """Hints for ``grads[key]``: it equals what a backward without one of the ReLU masks gives
    (computed only when a hint is asked for, that is after a mismatch); the deepest first."""
    return [matches(lambda *_a, _h=hidden, **_k: _grads_without_mask(params, x, g, _h)[key],
                    f"these are the gradients of a backward without the ReLU mask after layer {hidden}: multiply "
                    f"the upstream gradient by (a{hidden} > 0) before going through W{hidden}.")
            for hidden in reversed(range(1, len(params) // 2))]


def check_mlp_forward(mlp_forward: Callable, make_network: Callable[[], nn.Module], rule, *,
                      input_shape: tuple[int, ...] = (28, 28), devices=None, dtypes=None) -> None:
    """``mlp_forward(params, x)[0]`` equals the reference logits on every device and dtype;
    ``rule``: the function's :class:`~.rules.Rule` (allowed operators, float32 tolerance)."""
    for device, dtype in grid(devices, dtypes):
        params, x = random_params(make_network, device, dtype), _inputs(device, dtype, 1, input_shape)
        case = Case("6 random images", (x,))
        out = watched_call(mlp_forward, (params, x), name="mlp_forward", where=case.describe(),
                           allowed=rule.allowed_ops(), arg_names=("params", "x"))
        out = pair("mlp_forward", out, "(logits, cache)")
        assert_tensor_matches(out[0], reference_mlp(params, x), name="mlp_forward", case=case, what="logits",
                              **rule.rtol_atol(dtype))
    print("OK: mlp_forward matches the torch network")


def check_mlp_backward(mlp_forward: Callable, mlp_backward: Callable, make_network: Callable[[], nn.Module],
                       forward_rule, backward_rule, *, input_shape: tuple[int, ...] = (28, 28), devices=None,
                       dtypes=None) -> None:
    """Every gradient of ``mlp_backward`` equals autograd's, with a random upstream gradient."""
    count = 0
    for device, dtype in grid(devices, dtypes):
        params, x = random_params(make_network, device, dtype), _inputs(device, dtype, 2, input_shape)
        names = param_names(len(params) // 2)
        leaves = {k: v.clone().requires_grad_(True) for k, v in params.items()}
        logits = reference_mlp(leaves, x)
        g = torch.randn(logits.shape, generator=generator(3), dtype=torch.float64).to(device, dtype)
        expected = dict(zip(names, vjp(logits, [leaves[k] for k in names], g)))
        case = Case("6 random images, random upstream gradient", (x,))
        out = watched_call(mlp_forward, (params, x), name="mlp_forward", where=case.describe(),
                           allowed=forward_rule.allowed_ops(), arg_names=("params", "x"))
        _, cache = pair("mlp_forward", out, "(logits, cache)")
        grads = watched_call(mlp_backward, (params, cache, g), name="mlp_backward", where=case.describe(),
                             allowed=backward_rule.allowed_ops(), allow_autograd=False,
                             arg_names=("params", "cache", "dlogits"))
        if not isinstance(grads, dict) or set(grads) != set(names):
            got = sorted(grads) if isinstance(grads, dict) else type_name(grads)
            raise CheckFailure(f"mlp_backward returned {got} on {case.describe()}; expected a dict with the keys "
                               f"{list(names)}.\nHint: one gradient per parameter, shaped like it: "
                               f"grads['W1'] like params['W1'], and so on.")
        # from the output back, as backward computes them: the first wrong one is nearest the slip
        for key in reversed(names):
            assert_tensor_matches(grads[key], expected[key], name="mlp_backward", case=case,
                                  what=f"grads[{key!r}]", hints=_mask_hints(params, x, g, key),
                                  **backward_rule.rtol_atol(dtype))
            count += 1
    print(f"OK: mlp_backward matches autograd on {count} parameter gradients")
