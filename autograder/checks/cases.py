"""The inputs every check runs on.

A :class:`Case` is one call: positional tensors plus keyword arguments, and a label
that says what kind of input it is (``"square 2-d"``, ``"extreme values"``...). The
generators build fresh tensors on a given device and dtype. Their seeds go through
:func:`autograder.checks.context.seed`: in JupyterLab the inputs are the same every run,
so a failure can be reproduced; when the referee grades, they come from a secret drawn
for that run, and no code written in advance can know them. The fixed values that teach
(:data:`EXTREME_VALUES`) stay fixed, and every extreme case also gets values drawn at
random from the same ranges, so a table of answers for the fixed ones does not pass.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator

import torch

from . import context

DTYPES = (torch.float32, torch.float64)

#: Values where naive formulas break: float32 ``exp`` overflows just above 88.72.
EXTREME_VALUES = (-1000.0, -100.0, -89.0, -88.0, -20.0, -1.0, -1e-8, 0.0, 1e-8, 1.0, 20.0, 88.0, 89.0, 100.0, 1000.0)
#: Rows of logits where a naive softmax or log-softmax breaks: exp overflows (1000, 89 in
#: float32) and underflows (-1000), all equal, all very negative, ties at the top.
EXTREME_ROWS = ((1000.0, 0.0, -1000.0), (-1000.0, -1000.0, -1000.0), (1000.0, 1000.0, 999.0),
                (-1000.0, 1000.0, 0.0), (89.0, 88.0, -89.0), (100.0, -100.0, 0.0), (-1000.0, -1000.0, -999.0),
                (0.0, 0.0, 0.0))


@dataclass
class Case:
    """One call of the function under test: ``fn(*args, **kwargs)``.

    ``label`` names the kind of input for messages; ``args`` are tensors (or other
    values) passed positionally.
    """

    label: str
    args: tuple
    kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def x(self) -> torch.Tensor:
        """The first positional argument (the main input)."""
        return self.args[0]

    def describe(self) -> str:
        x = self.x
        parts = [f"{x.device.type}", str(x.dtype).replace("torch.", ""), f"shape {tuple(x.shape)}", self.label]
        parts += [f"{key}={value!r}" for key, value in self.kwargs.items()]
        return ", ".join(parts)


def generator(seed: int) -> torch.Generator:
    """A CPU generator seeded from ``seed`` and the run's secret: the one source of every
    random input the checks draw (tensors are drawn on the CPU, then moved)."""
    gen = torch.Generator()
    gen.manual_seed(context.seed(seed))
    return gen


def randn(shape, dtype, device, seed: int, scale: float = 3.0) -> torch.Tensor:
    """Normal values times ``scale``, drawn on CPU with ``seed`` and moved to ``device``."""
    gen = generator(seed)
    return (torch.randn(shape, generator=gen, dtype=torch.float64) * scale).to(device=device, dtype=dtype)


def shaped_tensors(device: str, dtype: torch.dtype, seed: int = 0) -> Iterator[tuple[str, torch.Tensor]]:
    """Tensors of every shape family: 0-d, 1-d, square 2-d, 3-d, 4-d and non-contiguous."""
    yield "0-d", randn((), dtype, device, seed)
    yield "1-d", randn((7,), dtype, device, seed + 1)
    yield "square 2-d", randn((5, 5), dtype, device, seed + 2)
    yield "3-d", randn((2, 3, 4), dtype, device, seed + 3)
    base = randn((6, 8), dtype, device, seed + 4)
    yield "non-contiguous (transposed, strided)", base.t()[::2]


def extreme_tensor(device: str, dtype: torch.dtype) -> torch.Tensor:
    """1-d tensor of :data:`EXTREME_VALUES` (exact zeros included)."""
    return torch.tensor(EXTREME_VALUES, dtype=dtype, device=device)


def random_extreme_tensor(device: str, dtype: torch.dtype, seed: int, n: int = 16) -> torch.Tensor:
    """1-d tensor of ``n`` values drawn from +-[80, 1000] (both signs; where float32 ``exp`` overflows)."""
    gen = generator(seed)
    magnitude = 80.0 + 920.0 * torch.rand((n,), generator=gen, dtype=torch.float64)
    sign = torch.where(torch.arange(n) % 2 == 0, 1.0, -1.0).to(torch.float64)
    return (magnitude * sign).to(device=device, dtype=dtype)


def elementwise_cases(device: str, dtype: torch.dtype, seed: int = 0, extremes: bool = True) -> Iterator[Case]:
    """Cases for an element-wise function of one tensor: every shape family, then extremes
    (the fixed :data:`EXTREME_VALUES`, then random ones in the same ranges)."""
    for label, x in shaped_tensors(device, dtype, seed):
        yield Case(label, (x,))
    if extremes:
        yield Case("extreme values", (extreme_tensor(device, dtype),))
        yield Case("random extreme values", (random_extreme_tensor(device, dtype, seed + 90),))


def plain_elementwise_cases(device: str, dtype: torch.dtype) -> Iterator[Case]:
    """:func:`elementwise_cases` without the extreme values (what the visible tests use)."""
    return elementwise_cases(device, dtype, extremes=False)


def dim_cases(device: str, dtype: torch.dtype, seed: int = 0, max_ndim: int = 4) -> Iterator[Case]:
    """Cases ``(x, dim=d)`` for every dim, negative ones too, of 1-d to ``max_ndim``-d tensors.

    Shapes have distinct sizes (so a wrong ``dim`` changes the result's shape or values),
    plus a square 2-d and a non-contiguous input (where a wrong ``dim`` keeps the shape).
    """
    shapes = [(5,), (3, 4), (4, 4), (2, 3, 4), (2, 3, 4, 5)]
    for i, shape in enumerate(s for s in shapes if len(s) <= max_ndim):
        x = randn(shape, dtype, device, seed + i)
        label = "square 2-d" if len(set(shape)) == 1 and len(shape) == 2 else f"{len(shape)}-d"
        for dim in range(-len(shape), len(shape)):
            yield Case(label, (x,), {"dim": dim})
    x = randn((6, 8), dtype, device, seed + 10).t()[::2]
    for dim in (0, 1, -1):
        yield Case("non-contiguous", (x,), {"dim": dim})
