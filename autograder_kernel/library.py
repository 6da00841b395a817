"""What the referee may build on the student's side, by name: torch constructors and probes.

Checks of layers, networks and training loops hand student code real torch objects (a
model, an optimizer, a loss function) that must live where the student's code runs.
The referee asks for them by name (``lib`` requests); only the names in :data:`LIBRARY`
exist. The probes are tiny objects whose *effects* a check can recompute:
:class:`NegateInput` changes a model's input, so a loop that calls ``model.forward(X)``
instead of ``model(X)`` (skipping hooks) gives different numbers; :class:`ToyAffine` is a
layer whose forward and backward are distinct affine maps, so a container that calls its
layers out of order or twice gives different numbers. :class:`ModeLog` records the grad
mode and training flag at every forward: a record kept in the student's process, so
the referee may use it only to take a point away, never to give one.
"""
from __future__ import annotations

from typing import Any, Callable

import torch

#: Names the referee may call on the student's side (``torch.*`` resolved on that side's torch).
LIBRARY = frozenset({
    "torch.manual_seed", "torch.get_default_dtype",
    "torch.nn.Sequential", "torch.nn.Linear", "torch.nn.ReLU", "torch.nn.Sigmoid", "torch.nn.Flatten",
    "torch.nn.BatchNorm1d", "torch.nn.Dropout", "torch.nn.CrossEntropyLoss", "torch.optim.SGD",
    "probes.NegateInput", "probes.ModeLog", "probes.ToyAffine",
})


class NegateInput:
    """A forward pre-hook that turns a module's first input x into -x.

    Not a scaling: a BatchNorm after the first Linear would undo a scale, not a sign."""

    def __call__(self, module, inputs):
        return (-inputs[0], *inputs[1:])


class ModeLog:
    """A forward hook that records ``(module.training, torch.is_grad_enabled())`` per forward."""

    def __init__(self):
        self.calls: list[tuple[bool, bool]] = []

    def __call__(self, module, inputs, output):
        self.calls.append((bool(module.training), bool(torch.is_grad_enabled())))


class ToyAffine:
    """A layer for testing containers: ``forward(x) = a * x + b``, ``backward(d) = a * d + b``.

    Not a real gradient: distinct offsets make the order of calls visible in the result.
    """

    def __init__(self, a: float, b: float):
        self.a, self.b = float(a), float(b)

    def forward(self, x):
        return self.a * x + self.b

    def backward(self, dout):
        return self.a * dout + self.b


_PROBES: dict[str, Callable[..., Any]] = {"probes.NegateInput": NegateInput, "probes.ModeLog": ModeLog,
                                          "probes.ToyAffine": ToyAffine}


def resolve(name: str) -> Callable[..., Any]:
    """The callable :data:`LIBRARY` names ``name`` (raises ``KeyError`` for any other name)."""
    if name not in LIBRARY:
        raise KeyError(f"{name!r} is not in the library")
    if name in _PROBES:
        return _PROBES[name]
    fn: Any = torch
    for part in name.split(".")[1:]:
        fn = getattr(fn, part)
    return fn
